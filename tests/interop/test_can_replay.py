"""A real CAN log, replayed through a brand profile, read back with the unmodified kuksa-client.

`tomoe can replay --profile hyundai-kona-ev-2019 --speed 0` decodes the 2019 Kona EV log
(shared data beside the repository) with the profile's DBC and mapping, publishes the
VSS values into its embedded broker and keeps serving the KUKSA API; the test then reads
speed, state of charge and pack voltage with `VSSClient`, as any KUKSA app would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kuksa_client.grpc import VSSClient

REPO_ROOT = Path(__file__).resolve().parents[2]
KONA_LOG = REPO_ROOT.parent / "shared/data/logs/kona-ev/230112-7-2019-pcan-ccan-power-off-on-ready-off.log"
HOST = "127.0.0.1"
TIMEOUT = 60.0


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
def replayed_kona(tmp_path_factory: pytest.TempPathFactory):
    """Replays the Kona log into an embedded broker; yields its port once the log is done."""
    if not KONA_LOG.is_file():
        if os.environ.get("TOMOE_REQUIRE_SHARED"):
            pytest.fail(f"shared log {KONA_LOG} is required (TOMOE_REQUIRE_SHARED is set) but missing", pytrace=False)
        pytest.skip(f"shared log {KONA_LOG} is absent")
    work = tmp_path_factory.mktemp("replay")
    port = _free_port()
    command = [
        str(_tomoe_bin()), "can", "replay",
        "--profile", "hyundai-kona-ev-2019",
        "--log", str(KONA_LOG),
        "--speed", "0",
        "--insecure",
        "--address", f"{HOST}:{port}",
        "--data-dir", str(work / "data"),
    ]
    stdout_path = work / "stdout.log"
    stderr_path = work / "stderr.log"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + TIMEOUT
        while "log finished" not in stdout_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"replay did not finish (exit code {process.poll()})\n"
                    f"--- stdout ---\n{stdout_path.read_text(errors='replace')}\n"
                    f"--- stderr ---\n{stderr_path.read_text(errors='replace')}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_kuksa_client_reads_replayed_kona_values(replayed_kona: int):
    with VSSClient(HOST, replayed_kona) as client:
        values = client.get_current_values(
            [
                "Vehicle.Speed",
                "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed",
                "Vehicle.Powertrain.TractionBattery.CurrentVoltage",
            ],
            timeout=10,
        )
    speed = values["Vehicle.Speed"].value
    soc = values["Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed"].value
    voltage = values["Vehicle.Powertrain.TractionBattery.CurrentVoltage"].value
    assert speed == pytest.approx(0.0), f"the Kona stands still in this log, got speed {speed}"
    assert 30.0 <= soc <= 40.0, f"state of charge {soc} is not the 36.5 % the log shows"
    assert 300.0 <= voltage <= 420.0, f"pack voltage {voltage} V is implausible"
