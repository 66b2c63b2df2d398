"""Interoperability tests: the unmodified Python `kuksa-client` against a Tomoe broker.

The broker is started once per session as a real process
(`$TOMOE_BIN serve --address 127.0.0.1:<port> --data-dir <tmp> --insecure`,
TOMOE_BIN defaulting to target/debug/tomoe under the repository root) and the
tests talk to it only through `kuksa_client.grpc.VSSClient`, exactly as an
existing KUKSA application would. The catalog is the default VSS 5.1 one.

Every gRPC call carries a deadline and every background stream runs in a daemon
thread, so a misbehaving server fails the tests instead of hanging them.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import grpc
import pytest
from kuksa.val.v2 import types_pb2 as types_v2
from kuksa.val.v2 import val_pb2 as val_v2
from kuksa_client.grpc import (
    DataEntry,
    Datapoint,
    DataType,
    EntryType,
    EntryUpdate,
    Field,
    Metadata,
    SubscribeEntry,
    View,
    VSSClient,
    VSSClientError,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0  # seconds for the broker to accept TCP connections
RPC_TIMEOUT = 10.0  # deadline of every unary call
STREAM_TIMEOUT = 60.0  # deadline of every streaming call (they are cancelled earlier)
EVENT_TIMEOUT = 10.0  # how long to wait for a streamed message

SPEED = "Vehicle.Speed"  # float sensor, km/h, no range
VIN = "Vehicle.VehicleIdentification.VIN"  # string attribute
DRIVER_DOOR_OPEN = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"  # boolean actuator
PASSENGER_DOOR_OPEN = "Vehicle.Cabin.Door.Row1.PassengerSide.IsOpen"  # boolean actuator
REAR_DOOR_OPEN = "Vehicle.Cabin.Door.Row2.DriverSide.IsOpen"  # boolean actuator
FAN_SPEED = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed"  # uint8 actuator, 0..100
SOC_DISPLAYED = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed"  # float sensor, 0..100
UNKNOWN = "Vehicle.ThisSignal.DoesNotExist"


# --------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _tomoe_bin() -> Path:
    configured = os.environ.get("TOMOE_BIN")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else Path.cwd() / path
    return REPO_ROOT / "target" / "debug" / "tomoe"


@pytest.fixture(scope="session")
def broker_port(tmp_path_factory: pytest.TempPathFactory):
    """Starts `tomoe serve` on a free loopback port; yields the port."""
    binary = _tomoe_bin()
    if not binary.is_file():
        pytest.fail(
            f"Tomoe binary {binary} does not exist: build it with `cargo build -p tomoe` "
            "or point TOMOE_BIN at it",
            pytrace=False,
        )
    work = tmp_path_factory.mktemp("tomoe")
    data_dir = work / "data"
    data_dir.mkdir()
    port = _free_port()
    command = [
        str(binary),
        "serve",
        "--address",
        f"{HOST}:{port}",
        "--data-dir",
        str(data_dir),
        "--insecure",
    ]
    stdout_path = work / "stdout.log"
    stderr_path = work / "stderr.log"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)

    def server_output() -> str:
        return (
            f"command: {' '.join(command)}\n"
            f"--- stderr ---\n{stderr_path.read_text(errors='replace')}\n"
            f"--- stdout ---\n{stdout_path.read_text(errors='replace')}"
        )

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"tomoe serve exited with code {process.returncode} before accepting "
                    f"connections\n{server_output()}",
                    pytrace=False,
                )
            try:
                with socket.create_connection((HOST, port), timeout=1.0):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"tomoe serve did not accept connections on {HOST}:{port} within "
                    f"{STARTUP_TIMEOUT:.0f} s\n{server_output()}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield port
        if process.poll() is not None:
            pytest.fail(
                f"tomoe serve died during the tests (exit code {process.returncode})\n"
                f"{server_output()}",
                pytrace=False,
            )
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _connect(port: int) -> VSSClient:
    # ensure_startup_connection=False: connect() would otherwise call GetServerInfo
    # without a deadline; test_server_info calls it explicitly with one.
    client = VSSClient(HOST, port, ensure_startup_connection=False)
    client.connect()
    return client


@pytest.fixture
def client(broker_port: int):
    client = _connect(broker_port)
    try:
        yield client
    finally:
        client.disconnect()


# --------------------------------------------------------------------------- helpers


class StreamReader:
    """Runs a VSSClient streaming generator in a daemon thread on its own client.

    Every message is put on `messages`; a stream that ends or fails is recorded in
    `outcome`. `close()` disconnects the client, which cancels the stream.
    """

    def __init__(self, port: int, open_stream: Callable[[VSSClient], Any]):
        self.client = _connect(port)
        self.messages: "queue.Queue[dict]" = queue.Queue()
        self.outcome: Optional[str] = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, args=(open_stream,), daemon=True)
        self._thread.start()

    def _run(self, open_stream: Callable[[VSSClient], Any]) -> None:
        try:
            for message in open_stream(self.client):
                self.messages.put(message)
            self.outcome = "the server ended the stream"
        except VSSClientError as exc:
            if not self._closing:
                self.outcome = f"the stream failed with {exc.error} {exc.errors}"
        except Exception as exc:  # noqa: BLE001 - reported to the test
            if not self._closing:
                self.outcome = f"the stream failed with {type(exc).__name__}: {exc}"

    def next(self, timeout: float = EVENT_TIMEOUT) -> Optional[dict]:
        """The next message, or None after `timeout` seconds."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def describe(self) -> str:
        return self.outcome or "the stream is still open"

    def close(self) -> None:
        self._closing = True
        self.client.disconnect()
        self._thread.join(timeout=5)


def _values(message: dict, path: str) -> Any:
    datapoint = message.get(path)
    return None if datapoint is None else datapoint.value


def _wait_for_value(reader: StreamReader, path: str, expected: Any, timeout: float = EVENT_TIMEOUT) -> List[Any]:
    """Reads messages until one carries `expected` for `path`; returns all values seen."""
    seen: List[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = reader.next(timeout=max(0.0, deadline - time.monotonic()))
        if message is None:
            break
        seen.append(_values(message, path))
        if seen[-1] == expected:
            return seen
    return seen


def _string_update(path: str, value: str) -> EntryUpdate:
    """A current-value update carrying a *string* datapoint whatever the signal's datatype.

    The high-level set_current_values converts the value to the signal's datatype on
    the client (float("fast") raises ValueError before anything is sent); declaring
    the datatype as STRING in the update's metadata makes VSSClient.set send the
    string as is, so the server's own type check is exercised.
    """
    entry = DataEntry(path, value=Datapoint(value), metadata=Metadata(data_type=DataType.STRING))
    return EntryUpdate(entry, (Field.VALUE,))


# --------------------------------------------------------------------------- metadata


def test_server_info(client: VSSClient):
    info = client.get_server_info(timeout=RPC_TIMEOUT)
    assert info is not None, "GetServerInfo (v1) answered UNAUTHENTICATED although the broker runs --insecure"
    assert info.name, f"GetServerInfo returned an empty server name: {info}"
    assert info.version, f"GetServerInfo returned an empty version: {info}"


def test_metadata_of_speed(client: VSSClient):
    metadata = client.get_metadata([SPEED], timeout=RPC_TIMEOUT)
    assert SPEED in metadata, f"get_metadata returned no entry for {SPEED}: {metadata}"
    speed = metadata[SPEED]
    assert speed is not None, f"the v1 Get response for {SPEED} carried no metadata"
    assert speed.data_type == DataType.FLOAT, f"{SPEED} data_type is {speed.data_type!r}, expected FLOAT"
    assert speed.entry_type == EntryType.SENSOR, f"{SPEED} entry_type is {speed.entry_type!r}, expected SENSOR"
    assert speed.unit == "km/h", f"{SPEED} unit is {speed.unit!r}, expected 'km/h'"
    assert speed.description, f"{SPEED} has no description: {speed}"


def test_metadata_of_actuator_and_range(client: VSSClient):
    metadata = client.get_metadata([DRIVER_DOOR_OPEN, SOC_DISPLAYED], timeout=RPC_TIMEOUT)
    door = metadata.get(DRIVER_DOOR_OPEN)
    assert door is not None, f"get_metadata returned no entry for {DRIVER_DOOR_OPEN}: {metadata}"
    assert door.data_type == DataType.BOOLEAN, f"{DRIVER_DOOR_OPEN} data_type is {door.data_type!r}"
    assert door.entry_type == EntryType.ACTUATOR, f"{DRIVER_DOOR_OPEN} entry_type is {door.entry_type!r}"
    soc = metadata.get(SOC_DISPLAYED)
    assert soc is not None, f"get_metadata returned no entry for {SOC_DISPLAYED}: {metadata}"
    assert soc.value_restriction is not None, f"{SOC_DISPLAYED} has no value_restriction: {soc}"
    assert (soc.value_restriction.min, soc.value_restriction.max) == (0, 100), (
        f"{SOC_DISPLAYED} range is {soc.value_restriction}, expected min 0 max 100"
    )


# --------------------------------------------------------------------------- current values


def test_set_and_get_current_values(client: VSSClient):
    # set_current_values publishes through v2 PublishValue (one call per signal),
    # get_current_values reads through v1 Get.
    updates = {
        SPEED: Datapoint(42.5),
        VIN: Datapoint("WVWZZZ1JZXW000001"),
        DRIVER_DOOR_OPEN: Datapoint(True),
        FAN_SPEED: Datapoint(42),
    }
    client.set_current_values(updates, timeout=RPC_TIMEOUT)
    values = client.get_current_values(list(updates), timeout=RPC_TIMEOUT)
    for path, sent in updates.items():
        assert path in values, f"get_current_values returned no entry for {path}: {values}"
        got = values[path]
        assert got is not None, f"{path}: the v1 Get response carried no value after it was set to {sent.value!r}"
        assert got.value == sent.value, f"{path}: read back {got.value!r}, expected {sent.value!r}"
        assert type(got.value) is type(sent.value), (
            f"{path}: read back a {type(got.value).__name__}, expected a {type(sent.value).__name__}"
        )
        assert got.timestamp is not None, f"{path}: the datapoint read back has no timestamp"

    client.set_current_values({DRIVER_DOOR_OPEN: Datapoint(False)}, timeout=RPC_TIMEOUT)
    got = client.get_current_values([DRIVER_DOOR_OPEN], timeout=RPC_TIMEOUT)[DRIVER_DOOR_OPEN]
    assert got is not None and got.value is False, f"{DRIVER_DOOR_OPEN}: read back {got}, expected False"


def test_set_current_value_through_v1_set(client: VSSClient):
    # Older clients publish with v1 Set (field VALUE); VSSClient.set defaults to v1.
    client.set([EntryUpdate(DataEntry(SPEED, value=Datapoint(12.25)), (Field.VALUE,))], timeout=RPC_TIMEOUT)
    got = client.get_current_values([SPEED], timeout=RPC_TIMEOUT)[SPEED]
    assert got is not None and got.value == 12.25, f"{SPEED}: read back {got} after a v1 Set of 12.25"


# --------------------------------------------------------------------------- target values


def test_set_and_get_target_values(client: VSSClient):
    # set_target_values is a v1 Set of actuator_target; no provider is needed for it.
    updates = {PASSENGER_DOOR_OPEN: Datapoint(True), FAN_SPEED: Datapoint(77)}
    client.set_target_values(updates, timeout=RPC_TIMEOUT)
    targets = client.get_target_values(list(updates), timeout=RPC_TIMEOUT)
    for path, sent in updates.items():
        assert path in targets, f"get_target_values returned no entry for {path}: {targets}"
        got = targets[path]
        assert got is not None, f"{path}: the v1 Get (view TARGET_VALUE) carried no actuator_target"
        assert got.value == sent.value, f"{path}: target read back as {got.value!r}, expected {sent.value!r}"
    current = client.get_current_values([FAN_SPEED], timeout=RPC_TIMEOUT)[FAN_SPEED]
    assert current is None or current.value != 77, (
        f"{FAN_SPEED}: setting the target changed the current value to {current}"
    )


# --------------------------------------------------------------------------- subscriptions


def test_subscribe_current_values(broker_port: int, client: VSSClient):
    # subscribe_current_values uses v2 Subscribe, which sends the present values first.
    client.set_current_values({SPEED: Datapoint(1.0)}, timeout=RPC_TIMEOUT)
    reader = StreamReader(
        broker_port, lambda c: c.subscribe_current_values([SPEED], timeout=STREAM_TIMEOUT)
    )
    try:
        first = reader.next()
        assert first is not None, (
            f"v2 Subscribe sent no initial message within {EVENT_TIMEOUT:.0f} s "
            f"(KUKSA sends the present values first); {reader.describe()}"
        )
        assert _values(first, SPEED) == 1.0, f"the initial message is {first}, expected {SPEED} = 1.0"

        published = [10.0, 20.5, 30.25, 0.0]
        for value in published:
            client.set_current_values({SPEED: Datapoint(value)}, timeout=RPC_TIMEOUT)
        seen = _wait_for_value(reader, SPEED, published[-1])
        assert seen == published, (
            f"the subscriber received {seen} after the initial value, expected {published}; "
            f"{reader.describe()}"
        )
    finally:
        reader.close()


def test_subscribe_current_values_v1(broker_port: int, client: VSSClient):
    # The v1 Subscribe that pre-v2 clients use.
    def open_stream(c: VSSClient):
        for updates in c.subscribe(
            [SubscribeEntry(SPEED, View.CURRENT_VALUE, (Field.VALUE,))], timeout=STREAM_TIMEOUT
        ):
            yield {update.entry.path: update.entry.value for update in updates}

    reader = StreamReader(broker_port, open_stream)
    try:
        # Whether v1 sends the present value first is not asserted: probe until the
        # subscription is live, then check a sequence.
        live = False
        deadline = time.monotonic() + EVENT_TIMEOUT
        while not live and time.monotonic() < deadline:
            client.set_current_values({SPEED: Datapoint(-1.0)}, timeout=RPC_TIMEOUT)
            live = _wait_for_value(reader, SPEED, -1.0, timeout=0.5)[-1:] == [-1.0]
        assert live, f"the v1 subscriber received nothing within {EVENT_TIMEOUT:.0f} s; {reader.describe()}"
        while reader.next(timeout=0.2) is not None:
            pass
        published = [5.5, 6.5, 7.5]
        for value in published:
            client.set_current_values({SPEED: Datapoint(value)}, timeout=RPC_TIMEOUT)
        seen = _wait_for_value(reader, SPEED, published[-1])
        assert seen == published, f"the v1 subscriber received {seen}, expected {published}; {reader.describe()}"
    finally:
        reader.close()


# --------------------------------------------------------------------------- actuation


def _actuation_reader(port: int, path: str) -> StreamReader:
    # subscribe_target_values resolves the path with v2 ListMetadata, then opens a v2
    # OpenProviderStream whose request side carries one ProvideActuationRequest and is
    # then half-closed, and yields the BatchActuateStreamRequests it receives.
    return StreamReader(port, lambda c: c.subscribe_target_values([path], timeout=STREAM_TIMEOUT))


HALF_CLOSE_HINT = (
    "kuksa-client half-closes the request side of OpenProviderStream right after its "
    "ProvideActuationRequest; like KUKSA databroker, the server must keep the provider "
    "registered and the response stream open until the call is cancelled"
)


def _assert_provider_alive(provider: StreamReader) -> None:
    assert provider.outcome is None, f"the provider stream stopped: {provider.describe()} ({HALF_CLOSE_HINT})"


def test_provider_receives_v1_set_target(broker_port: int, client: VSSClient):
    provider = _actuation_reader(broker_port, DRIVER_DOOR_OPEN)
    try:
        # v1 Set of a target stores it even without a provider, so retry until the
        # provider's claim is in place and the request reaches it.
        registered = False
        deadline = time.monotonic() + EVENT_TIMEOUT
        while not registered and time.monotonic() < deadline:
            _assert_provider_alive(provider)
            client.set_target_values({DRIVER_DOOR_OPEN: Datapoint(True)}, timeout=RPC_TIMEOUT)
            registered = _wait_for_value(provider, DRIVER_DOOR_OPEN, True, timeout=0.5)[-1:] == [True]
        assert registered, (
            f"the provider of {DRIVER_DOOR_OPEN} received no actuation request within "
            f"{EVENT_TIMEOUT:.0f} s of repeated v1 Set(actuator_target=True); {provider.describe()}"
        )
        while provider.next(timeout=0.2) is not None:
            pass
        client.set_target_values({DRIVER_DOOR_OPEN: Datapoint(False)}, timeout=RPC_TIMEOUT)
        message = provider.next()
        assert message is not None, (
            f"the provider received no request for v1 Set(actuator_target=False); {provider.describe()}"
        )
        assert _values(message, DRIVER_DOOR_OPEN) is False, (
            f"the provider received {message}, expected {DRIVER_DOOR_OPEN} = False"
        )
        target = client.get_target_values([DRIVER_DOOR_OPEN], timeout=RPC_TIMEOUT)[DRIVER_DOOR_OPEN]
        assert target is not None and target.value is False, f"the stored target is {target}, expected False"
    finally:
        provider.close()


def test_provider_receives_v2_actuate(broker_port: int, client: VSSClient):
    # The same provider stream, driven by a raw v2 Actuate (the stubs ship with
    # kuksa-client), to tell a v1 Set forwarding problem from a provider stream one.
    def actuate(value: bool) -> None:
        request = val_v2.ActuateRequest(
            signal_id=types_v2.SignalID(path=REAR_DOOR_OPEN), value=types_v2.Value(bool=value)
        )
        client.client_stub_v2.Actuate(request, timeout=RPC_TIMEOUT)

    with pytest.raises(grpc.RpcError) as no_provider:
        actuate(True)
    assert no_provider.value.code() == grpc.StatusCode.UNAVAILABLE, (
        f"v2 Actuate without a provider answered {no_provider.value.code()} "
        f"{no_provider.value.details()!r}, KUKSA answers UNAVAILABLE"
    )

    provider = _actuation_reader(broker_port, REAR_DOOR_OPEN)
    try:
        last_error = None
        deadline = time.monotonic() + EVENT_TIMEOUT
        while time.monotonic() < deadline:
            _assert_provider_alive(provider)
            try:
                actuate(True)
                last_error = None
                break
            except grpc.RpcError as exc:  # no provider yet
                last_error = f"{exc.code()} {exc.details()!r}"
                time.sleep(0.2)
        assert last_error is None, (
            f"v2 Actuate of {REAR_DOOR_OPEN} still failed {EVENT_TIMEOUT:.0f} s after the provider "
            f"stream opened: {last_error}; {provider.describe()}"
        )
        message = provider.next()
        assert message is not None, (
            f"v2 Actuate succeeded but the provider received nothing; {provider.describe()}"
        )
        assert _values(message, REAR_DOOR_OPEN) is True, (
            f"the provider received {message}, expected {REAR_DOOR_OPEN} = True"
        )
    finally:
        provider.close()

    # Closing the provider's channel releases its claim.
    deadline = time.monotonic() + EVENT_TIMEOUT
    code = None
    while time.monotonic() < deadline:
        try:
            actuate(False)
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.UNAVAILABLE:
                break
        time.sleep(0.2)
    assert code == grpc.StatusCode.UNAVAILABLE, (
        f"v2 Actuate after the provider disconnected answered {code}, expected UNAVAILABLE"
    )


def test_v1_set_target_reaches_raw_provider_stream(client: VSSClient):
    # A provider written against the raw v2 stubs that keeps its request side open:
    # separates v1 Set forwarding from the half-close handling exercised above.
    path = "Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen"
    listed = client.client_stub_v2.ListMetadata(val_v2.ListMetadataRequest(root=path), timeout=RPC_TIMEOUT)
    assert len(listed.metadata) == 1, f"v2 ListMetadata({path}) returned {len(listed.metadata)} entries, expected 1"
    signal_id = listed.metadata[0].id
    release = threading.Event()

    def requests():
        yield val_v2.OpenProviderStreamRequest(
            provide_actuation_request=val_v2.ProvideActuationRequest(actuator_identifiers=[types_v2.SignalID(path=path)])
        )
        release.wait(STREAM_TIMEOUT)

    call = client.client_stub_v2.OpenProviderStream(requests(), timeout=STREAM_TIMEOUT)
    received: "queue.Queue[Any]" = queue.Queue()

    def read() -> None:
        try:
            for response in call:
                received.put(response)
        except grpc.RpcError as exc:
            received.put(exc)

    threading.Thread(target=read, daemon=True).start()

    def next_response(waiting_for: str) -> Any:
        try:
            return received.get(timeout=EVENT_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"the raw provider received nothing within {EVENT_TIMEOUT:.0f} s while waiting for {waiting_for}")

    try:
        first = next_response("the provide_actuation_response")
        assert isinstance(first, val_v2.OpenProviderStreamResponse) and first.HasField("provide_actuation_response"), (
            f"the first OpenProviderStream response is {first!r}, expected a provide_actuation_response"
        )
        client.set_target_values({path: Datapoint(True)}, timeout=RPC_TIMEOUT)
        message = next_response("the actuation request of a v1 Set(actuator_target=True)")
        assert isinstance(message, val_v2.OpenProviderStreamResponse) and message.HasField(
            "batch_actuate_stream_request"
        ), f"after a v1 Set(actuator_target) the provider received {message!r}, expected a batch_actuate_stream_request"
        actuations = message.batch_actuate_stream_request.actuate_requests
        assert len(actuations) == 1, f"expected one actuate request, got {message}"
        actuation = actuations[0]
        requested = actuation.signal_id.path if actuation.signal_id.HasField("path") else actuation.signal_id.id
        assert requested in (path, signal_id), (
            f"the actuate request names {requested!r}, expected {path} or its ListMetadata id {signal_id}"
        )
        assert actuation.value.WhichOneof("typed_value") == "bool" and actuation.value.bool is True, (
            f"the actuate request carries {actuation.value}, expected bool true"
        )
    finally:
        release.set()
        call.cancel()


# --------------------------------------------------------------------------- errors


def test_unknown_path_is_an_error(client: VSSClient):
    with pytest.raises(VSSClientError) as raised:
        client.get_current_values([UNKNOWN], timeout=RPC_TIMEOUT)
    codes = [raised.value.error.get("code")] + [e.get("error", {}).get("code") for e in raised.value.errors]
    assert 404 in codes or grpc.StatusCode.NOT_FOUND.value[0] in codes, (
        f"v1 Get of an unknown path raised {raised.value.to_dict()}, expected a 404 / NOT_FOUND"
    )
    with pytest.raises(VSSClientError):
        client.set_current_values({UNKNOWN: Datapoint(1.0)}, timeout=RPC_TIMEOUT)


def test_high_level_api_rejects_string_for_float_on_the_client(client: VSSClient):
    # Documents kuksa-client behaviour: the value is converted before sending.
    with pytest.raises(ValueError):
        client.set_current_values({SPEED: Datapoint("fast")}, timeout=RPC_TIMEOUT)


@pytest.mark.parametrize("try_v2", [False, True], ids=["v1-Set", "v2-PublishValue"])
def test_string_on_float_sensor_is_rejected(client: VSSClient, try_v2: bool):
    client.set_current_values({SPEED: Datapoint(33.0)}, timeout=RPC_TIMEOUT)
    with pytest.raises(VSSClientError) as raised:
        client.set([_string_update(SPEED, "fast")], try_v2=try_v2, timeout=RPC_TIMEOUT)
    assert raised.value.error or raised.value.errors, f"the error carries no detail: {raised.value.to_dict()}"
    got = client.get_current_values([SPEED], timeout=RPC_TIMEOUT)[SPEED]
    assert got is not None and got.value == 33.0, f"{SPEED} changed to {got} after a refused string write"


@pytest.mark.parametrize("try_v2", [False, True], ids=["v1-Set", "v2-PublishValue"])
def test_out_of_range_is_rejected_and_value_kept(client: VSSClient, try_v2: bool):
    client.set_current_values({SOC_DISPLAYED: Datapoint(55.0)}, timeout=RPC_TIMEOUT)
    update = EntryUpdate(DataEntry(SOC_DISPLAYED, value=Datapoint(150.0)), (Field.VALUE,))
    with pytest.raises(VSSClientError) as raised:
        client.set([update], try_v2=try_v2, timeout=RPC_TIMEOUT)
    assert raised.value.error or raised.value.errors, f"the error carries no detail: {raised.value.to_dict()}"
    got = client.get_current_values([SOC_DISPLAYED], timeout=RPC_TIMEOUT)[SOC_DISPLAYED]
    assert got is not None and got.value == 55.0, (
        f"{SOC_DISPLAYED} is {got} after a refused write of 150 (max 100), expected 55.0"
    )


def test_out_of_range_target_is_rejected(client: VSSClient):
    client.set_target_values({FAN_SPEED: Datapoint(20)}, timeout=RPC_TIMEOUT)
    with pytest.raises(VSSClientError):
        client.set_target_values({FAN_SPEED: Datapoint(150)}, timeout=RPC_TIMEOUT)
    got = client.get_target_values([FAN_SPEED], timeout=RPC_TIMEOUT)[FAN_SPEED]
    assert got is not None and got.value == 20, f"{FAN_SPEED} target is {got} after a refused 150, expected 20"


def test_target_of_sensor_is_rejected(client: VSSClient):
    with pytest.raises(VSSClientError):
        client.set_target_values({SPEED: Datapoint(50.0)}, timeout=RPC_TIMEOUT)
