"""`/metrics` of a real `tomoe up`, read with the Prometheus Python client's own parser
(`prometheus_client.parser.text_string_to_metric_families`): the exposition parses, and
its counters move as the unmodified kuksa-client publishes and reads signals.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kuksa_client.grpc import Datapoint, VSSClient
from prometheus_client.parser import text_string_to_metric_families
from tomoe_process import HOST, free_port, running
from websockets.sync.client import connect



@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory):
    """Runs `tomoe up --idle`; yields the broker port, the HTTP address and the VISS port."""
    work = tmp_path_factory.mktemp("metrics")
    port, runtime_port, http_port, viss_port = free_port(), free_port(), free_port(), free_port()
    args = [
        "up", "--idle",
        "--address", f"{HOST}:{port}", "--runtime-address", f"{HOST}:{runtime_port}",
        "--http-address", f"{HOST}:{http_port}", "--viss-address", f"{HOST}:{viss_port}",
        "--data-dir", str(work / "data"),
    ]
    with running(args, work, "Tomoe is up") as log:
        # The banner's HTTP line tells where the metrics are.
        assert "/metrics" in log.read_text(errors="replace")
        yield port, f"http://{HOST}:{http_port}", viss_port


def _scrape(http: str) -> dict:
    """Every sample, by name and sorted labels, as the Prometheus parser reads them."""
    with urllib.request.urlopen(f"{http}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    families = list(text_string_to_metric_families(text))
    types = {family.name: family.type for family in families}
    assert types["tomoe_broker_published_values"] == "counter"
    assert types["tomoe_broker_subscribers"] == "gauge"
    if "tomoe_api_request_duration_seconds" in types:  # from the first request on
        assert types["tomoe_api_request_duration_seconds"] == "histogram"
    for family in families:
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _total(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


def test_counters_move_as_kuksa_client_publishes(platform):
    port, http, _ = platform
    before = _scrape(http)
    assert _total(before, "tomoe_runtime_workloads", state="running") == 0
    assert not any(name.startswith("tomoe_ota_") for name, _ in before), "no OTA agent, no OTA metrics"

    with VSSClient(HOST, port) as client:
        for speed in (11.0, 22.0, 33.0):
            client.set_current_values({"Vehicle.Speed": Datapoint(speed)})
        assert client.get_current_values(["Vehicle.Speed"])["Vehicle.Speed"].value == 33.0

    after = _scrape(http)
    published = "tomoe_broker_published_values_total"
    # The platform publishes too (its mode, its trouble codes): at least ours.
    assert _total(after, published) >= _total(before, published) + 3
    requests = "tomoe_api_requests_total"
    kuksa = [
        _total(after, requests, api=api, status="OK") - _total(before, requests, api=api, status="OK")
        for api in ("kuksa.val.v1", "kuksa.val.v2")
    ]
    # Three writes and a read, through whichever KUKSA API kuksa-client chose.
    assert sum(kuksa) >= 4, kuksa
    assert any(name == "tomoe_api_request_duration_seconds_bucket" for name, _ in after)
    latency = "tomoe_api_request_duration_seconds_count"
    assert sum(_total(after, latency, api=api) for api in ("kuksa.val.v1", "kuksa.val.v2")) >= 4
    buses = [dict(labels)["bus"] for name, labels in after if name == "tomoe_can_frames_total"]
    assert buses, "the profile's buses are listed"


def test_viss_requests_are_counted_by_method_and_status(platform):
    _, http, viss_port = platform
    before = _scrape(http)
    requests = "tomoe_api_requests_total"
    viss = f"http://{HOST}:{viss_port}"
    with urllib.request.urlopen(f"{viss}/Vehicle/Speed", timeout=10) as response:
        assert response.status in (200, 404)  # 404 unavailable_data until a value exists
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{viss}/Vehicle/Nope", timeout=10)
    assert refused.value.code == 404
    socket = connect(f"ws://{HOST}:{viss_port}/", subprotocols=["VISS-v2"])
    try:
        socket.send(json.dumps({"action": "get", "path": "Vehicle.Nope", "requestId": "1"}))
        assert json.loads(socket.recv(timeout=10))["error"]["number"] == "404"
        socket.send("{not json")
        assert json.loads(socket.recv(timeout=10))["error"]["number"] == "400"
    finally:
        socket.close()
    after = _scrape(http)

    def moved(**labels: str) -> float:
        return _total(after, requests, api="viss", **labels) - _total(before, requests, api="viss", **labels)

    assert moved(method="http get") == 2
    assert moved(method="http get", status="404") >= 1
    assert moved(method="ws get", status="404") == 1
    assert moved(method="ws invalid", status="400") == 1
    latency = "tomoe_api_request_duration_seconds_count"
    assert _total(after, latency, api="viss") - _total(before, latency, api="viss") == 4
