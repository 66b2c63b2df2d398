"""`tomoe up` as a new user runs it: the simulated vehicle's speed changes over time and
the unmodified kuksa-client reads the same datapoints as `tomoe get`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kuksa_client.grpc import VSSClient

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def _tomoe_bin() -> Path:
    configured = os.environ.get("TOMOE_BIN")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else Path.cwd() / path
    return REPO_ROOT / "target" / "debug" / "tomoe"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory):
    """Runs `tomoe up` (simulated Kona EV, ten times faster than real time)."""
    work = tmp_path_factory.mktemp("up")
    port, runtime_port = _free_port(), _free_port()
    command = [
        str(_tomoe_bin()), "up", "--speed", "10",
        "--address", f"{HOST}:{port}", "--runtime-address", f"{HOST}:{runtime_port}",
        "--data-dir", str(work / "data"),
    ]
    stdout_path = work / "stdout.log"
    with open(stdout_path, "wb") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 30
        while "Tomoe is up" not in stdout_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tomoe up did not start:\n{stdout_path.read_text(errors='replace')}", pytrace=False)
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _tomoe_get(port: int, path: str) -> dict:
    output = subprocess.run(
        [str(_tomoe_bin()), "get", "--broker", f"http://{HOST}:{port}", "--json", path],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return json.loads(output.stdout)


def test_speed_changes_and_kuksa_client_sees_the_same_values(platform: int):
    speeds = set()
    matched = 0
    with VSSClient(HOST, platform) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(speeds) < 3 or matched < 3):
            ours = _tomoe_get(platform, "Vehicle.Speed")
            theirs = client.get_current_values(["Vehicle.Speed"], timeout=10)["Vehicle.Speed"]
            if ours["value"] is not None:
                speeds.add(round(ours["value"], 3))
            if theirs is None or theirs.value is None:
                # Right after start the simulator may not have published yet.
                time.sleep(0.2)
                continue
            # The same datapoint (same broker timestamp) has the same value for both clients.
            stamp = theirs.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if ours["timestamp"] == stamp:
                assert ours["value"] == pytest.approx(theirs.value), (ours, theirs)
                matched += 1
            time.sleep(0.2)
    assert len(speeds) >= 3, f"Vehicle.Speed did not change over time: {speeds}"
    assert matched >= 3, "kuksa-client and tomoe get never read the same datapoint"
