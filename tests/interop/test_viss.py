"""Interoperability tests: an independent VISS client against Tomoe's VISS server.

A real `tomoe serve --insecure --viss-address 127.0.0.1:<port>` process is started
once per module. Values are published through the unmodified `kuksa-client` over
gRPC, and read back over VISS with the `websockets` library from PyPI (WebSocket,
subprotocols VISS-v2 and VISS-v3) and with the standard library's HTTP client.
Every receive has a deadline, so a misbehaving server fails the tests instead of
hanging them.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from kuksa_client.grpc import Datapoint, VSSClient
from tomoe_process import HOST, free_port, running
from websockets.sync.client import connect

RECEIVE_TIMEOUT = 10.0
RPC_TIMEOUT = 10.0
SPEED = "Vehicle.Speed"


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory):
    """Starts `tomoe serve` with VISS; yields (gRPC port, VISS port)."""
    work = tmp_path_factory.mktemp("tomoe-viss")
    grpc_port, viss_port = free_port(), free_port()
    args = ["serve", "--insecure", "--address", f"{HOST}:{grpc_port}",
            "--viss-address", f"{HOST}:{viss_port}", "--data-dir", str(work / "data")]
    # The banner comes once both servers listen.
    with running(args, work, f"viss     ws://{HOST}:{viss_port}"):
        yield grpc_port, viss_port


def publish(grpc_port: int, value: float) -> None:
    client = VSSClient(HOST, grpc_port, ensure_startup_connection=False)
    client.connect()
    try:
        client.set_current_values({SPEED: Datapoint(value)}, timeout=RPC_TIMEOUT)
    finally:
        client.disconnect()


class Viss:
    """A VISS WebSocket session: requests with ids, responses and events."""

    def __init__(self, port: int, subprotocol: str):
        self.socket = connect(f"ws://{HOST}:{port}/", subprotocols=[subprotocol])
        self.next = 0

    def receive(self) -> dict:
        return json.loads(self.socket.recv(timeout=RECEIVE_TIMEOUT))

    def request(self, message: dict) -> dict:
        self.next += 1
        request_id = f"py-{self.next}"
        self.socket.send(json.dumps({**message, "requestId": request_id}))
        while True:
            response = self.receive()
            if response.get("requestId") == request_id:
                return response

    def close(self) -> None:
        self.socket.close()


@pytest.mark.parametrize("subprotocol", ["VISS-v2", "VISS-v3"])
def test_subprotocol_get_and_metadata(ports, subprotocol):
    grpc_port, viss_port = ports
    publish(grpc_port, 55.5)
    viss = Viss(viss_port, subprotocol)
    try:
        assert viss.socket.subprotocol == subprotocol
        response = viss.request({"action": "get", "path": "Vehicle/Speed"})
        assert response["action"] == "get"
        assert response["data"]["path"] == SPEED
        assert response["data"]["dp"]["value"] == "55.5"
        metadata = viss.request(
            {"action": "get", "path": "Vehicle", "filter": {"variant": "metadata", "parameter": "0"}}
        )["metadata"]
        assert metadata["Vehicle"]["children"]["Speed"]["datatype"] == "float"
        capabilities = viss.request(
            {
                "action": "get",
                "path": "Vehicle",
                "filter": {"type": "dynamic-metadata", "parameter": "server_capabilities"},
            }
        )["metadata"]["server_capabilities"]
        assert "curvelog" in capabilities["filter"]
    finally:
        viss.close()


def test_subscribe_receives_what_kuksa_client_publishes(ports):
    grpc_port, viss_port = ports
    viss = Viss(viss_port, "VISS-v3")
    try:
        response = viss.request(
            {
                "action": "subscribe",
                "path": SPEED,
                "filter": [{"variant": "range", "parameter": {"logic-op": "gt", "boundary": "100"}}],
            }
        )
        subscription = response["subscriptionId"]
        for value in (10.0, 120.0):
            publish(grpc_port, value)
        while True:
            event = viss.receive()
            if event.get("action") == "subscription":
                break
        assert event["subscriptionId"] == subscription
        assert event["data"]["dp"]["value"] == "120"
        response = viss.request({"action": "unsubscribe", "subscriptionId": subscription})
        assert "error" not in response
    finally:
        viss.close()


def test_history_and_errors(ports):
    grpc_port, viss_port = ports
    for value in (1.0, 2.0, 3.0):
        publish(grpc_port, value)
    viss = Viss(viss_port, "VISS-v2")
    try:
        request = {"action": "get", "path": SPEED, "filter": {"variant": "history", "parameter": "PT1H"}}
        deadline = time.monotonic() + RECEIVE_TIMEOUT
        while True:
            values = [dp["value"] for dp in viss.request(request)["data"]["dp"]]
            if values[-3:] == ["1", "2", "3"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert values[-3:] == ["1", "2", "3"]
        error = viss.request({"action": "get", "path": "Vehicle.Nope"})["error"]
        assert (error["number"], error["reason"]) == ("404", "invalid_path")
        error = viss.request({"action": "set", "path": SPEED, "value": "1"})["error"]
        assert (error["number"], error["reason"]) == ("400", "invalid_data")
    finally:
        viss.close()


def test_http_get_with_a_filter(ports):
    _, viss_port = ports
    query = urllib.parse.urlencode({"filter": json.dumps({"variant": "paths", "parameter": "*.*.IsOpen"})})
    url = f"http://{HOST}:{viss_port}/Vehicle/Cabin/Door?{query}"
    with urllib.request.urlopen(url, timeout=RECEIVE_TIMEOUT) as response:
        body = json.loads(response.read())
    assert len(body["data"]) == 4
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://{HOST}:{viss_port}/Vehicle/Nope", timeout=RECEIVE_TIMEOUT)
    assert refused.value.code == 404


def test_durable_history_survives_a_restart(tmp_path):
    """`--history-durable Vehicle.Speed`: what kuksa-client published before a stop
    (SIGTERM, as a service manager stops it) is in the VISS history after the
    restart, read with `websockets`; a signal kept in memory only starts empty."""
    data = tmp_path / "data"

    def serve(name: str):
        work = tmp_path / name
        work.mkdir()
        grpc_port, viss_port = free_port(), free_port()
        args = ["serve", "--insecure", "--address", f"{HOST}:{grpc_port}",
                "--viss-address", f"{HOST}:{viss_port}", "--data-dir", str(data),
                "--history-durable", SPEED]
        return grpc_port, viss_port, running(args, work, f"viss     ws://{HOST}:{viss_port}")

    def history(viss_port: int, path: str) -> list:
        viss = Viss(viss_port, "VISS-v2")
        try:
            request = {"action": "get", "path": path, "filter": {"variant": "history", "parameter": "PT1H"}}
            return [dp["value"] for dp in viss.request(request)["data"]["dp"]]
        finally:
            viss.close()

    grpc_port, viss_port, first = serve("first")
    with first as log:
        assert "1 also kept across restarts" in log.read_text(errors="replace")
        for value in (101.0, 102.0, 103.0):
            publish(grpc_port, value)
        client = VSSClient(HOST, grpc_port, ensure_startup_connection=False)
        client.connect()
        try:
            client.set_current_values({"Vehicle.TraveledDistance": Datapoint(7.0)}, timeout=RPC_TIMEOUT)
        finally:
            client.disconnect()
        deadline = time.monotonic() + RECEIVE_TIMEOUT
        while history(viss_port, SPEED)[-3:] != ["101", "102", "103"]:
            assert time.monotonic() < deadline, "the history never showed the published values"
            time.sleep(0.05)
        assert history(viss_port, "Vehicle.TraveledDistance") == ["7"]
    _, viss_port, second = serve("second")
    with second:
        assert history(viss_port, SPEED) == ["101", "102", "103"]
        assert history(viss_port, "Vehicle.TraveledDistance") == []
