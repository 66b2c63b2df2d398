"""Diagnostics end to end with real processes: the unmodified kuksa-client sets a
battery temperature past its fault rule's limit; the fault appears under the SOVD
API with its freeze frame within a second of the debounce, survives a restart of
`tomoe up`, and clearing it (holding a lock) removes it from the API and from
`Vehicle.OBD.DTCList`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kuksa_client.grpc import Datapoint, VSSClient

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
TEMPERATURE = "Vehicle.Powertrain.TractionBattery.Temperature.Max"
# The Kona profile's rule P0A7E: above 55 degC for 1 s (profiles/.../diagnostics.toml).
DEBOUNCE_S = 1.0


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


class Platform:
    """`tomoe up --idle` on fixed free ports, so that a restart keeps its addresses."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port, self.runtime_port, self.http_port = _free_port(), _free_port(), _free_port()
        self.process: subprocess.Popen | None = None
        self.sovd = f"http://{HOST}:{self.http_port}/sovd/v1"

    def start(self) -> None:
        command = [
            str(_tomoe_bin()), "up", "--idle",
            "--address", f"{HOST}:{self.port}",
            "--runtime-address", f"{HOST}:{self.runtime_port}",
            "--http-address", f"{HOST}:{self.http_port}",
            "--data-dir", str(self.work / "data"),
        ]
        stdout_path = self.work / "stdout.log"
        with open(stdout_path, "wb") as stdout:
            self.process = subprocess.Popen(
                command, stdout=stdout, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=REPO_ROOT
            )
        deadline = time.monotonic() + 30
        while "Tomoe is up" not in stdout_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tomoe up did not start:\n{stdout_path.read_text(errors='replace')}", pytrace=False)
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


def _request(method: str, url: str, body: dict | None = None, client: str = "workshop") -> tuple[int, dict | None, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("x-sovd-client", client)
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
            return response.status, (json.loads(payload) if payload else None), dict(response.headers)
    except urllib.error.HTTPError as error:
        payload = error.read()
        return error.code, (json.loads(payload) if payload else None), dict(error.headers)


@pytest.fixture
def platform(tmp_path: Path):
    platform = Platform(tmp_path)
    platform.start()
    yield platform
    platform.stop()


def _dtc_list(port: int) -> list[str]:
    with VSSClient(HOST, port) as client:
        value = client.get_current_values(["Vehicle.OBD.DTCList"], timeout=10)["Vehicle.OBD.DTCList"]
    if value is None or value.value is None:
        return []
    # kuksa-client gives string[] values as the protobuf StringArray.
    return list(getattr(value.value, "values", value.value))


def test_a_rule_fault_is_stored_survives_a_restart_and_clears_with_a_lock(platform: Platform):
    faults_url = f"{platform.sovd}/components/bms/faults"
    status, faults, _ = _request("GET", faults_url)
    assert status == 200 and faults["items"] == [], faults

    with VSSClient(HOST, platform.port) as client:
        client.set_current_values({
            "Vehicle.Speed": Datapoint(42.0),
            TEMPERATURE: Datapoint(61.5),
        })
    written = time.monotonic()
    appeared = None
    while time.monotonic() - written < DEBOUNCE_S + 5:
        _, faults, _ = _request("GET", faults_url)
        if faults["items"]:
            appeared = time.monotonic()
            break
        time.sleep(0.05)
    assert appeared is not None, "the fault never appeared"
    # Within one second of the debounce completing.
    assert appeared - written <= DEBOUNCE_S + 1.0, appeared - written
    fault = faults["items"][0]
    assert fault["code"] == "P0A7E"
    assert fault["status"]["confirmedDTC"] == "1" and fault["status"]["testFailed"] == "1"

    _, details, _ = _request("GET", f"{faults_url}/P0A7E")
    frame = details["environment_data"]["snapshots"]["data"]["1"]["values"]
    assert frame[TEMPERATURE] == pytest.approx(61.5)
    assert frame["Vehicle.Speed"] == pytest.approx(42.0)
    assert _dtc_list(platform.port) == ["P0A7E"]

    # A restart of the whole platform keeps the fault (and republishes the list).
    platform.stop()
    platform.start()
    _, faults, _ = _request("GET", faults_url)
    assert [f["code"] for f in faults["items"]] == ["P0A7E"], faults
    assert faults["items"][0]["status"]["confirmedDTC"] == "1"
    deadline = time.monotonic() + 5
    while _dtc_list(platform.port) != ["P0A7E"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _dtc_list(platform.port) == ["P0A7E"]

    # Clearing needs the lock; another client's lock refuses it.
    status, problem, headers = _request("DELETE", f"{faults_url}/P0A7E")
    assert status == 409 and headers["content-type"] == "application/problem+json", problem
    assert problem["error_code"] == "precondition-not-fulfilled"
    status, lock, _ = _request("POST", f"{platform.sovd}/components/bms/locks", {"lock_expiration": 60})
    assert status == 201, lock
    status, problem, _ = _request("DELETE", f"{faults_url}/P0A7E", client="someone-else")
    assert status == 409, problem
    status, _, _ = _request("DELETE", f"{faults_url}/P0A7E")
    assert status == 204
    _, faults, _ = _request("GET", faults_url)
    assert faults["items"] == []
    deadline = time.monotonic() + 5
    while _dtc_list(platform.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _dtc_list(platform.port) == []
    status, _, _ = _request("DELETE", f"{platform.sovd}/components/bms/locks/{lock['id']}")
    assert status == 204
