"""Zenoh interoperability: an independent Zenoh client (the `eclipse-zenoh` Python
package from PyPI, pinned in requirements.txt) against real `tomoe up` processes.

- Reading: `tomoe up --ecu zonal --zenoh-listen ...` publishes the simulated
  vehicle's signals under `tomoe/<vehicle>/vss/Vehicle/...`; the Python session
  receives them as JSON (`application/json`) with the ECU's name (`zonal`) attached,
  sees them change, gets the present value from the queryable, and reads the same
  values the unmodified kuksa-client reads from that ECU's broker.
- Writing: `tomoe up --ecu central --zenoh-listen ...` imports `Vehicle.**` from the
  ECU named `zonal`; the Python session plays that ECU. A good sample lands in the
  central broker (read back with kuksa-client); every kind of bad sample (no sender,
  unknown path, sender or path not allowed, malformed, invalid value) is refused and
  logged on stderr, leaves the stored value alone and does not stop or wedge the
  receiver.

Processes are started on free loopback ports with temporary data directories and
stopped afterwards; multicast scouting is off on both sides, so nothing leaves
127.0.0.1. Every wait polls against a deadline.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pytest
import zenoh
from kuksa_client.grpc import VSSClient

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0  # seconds for `tomoe up` to print "Tomoe is up"
WAIT_TIMEOUT = 20.0  # seconds for a sample, a log line or a value to show up
RPC_TIMEOUT = 10.0  # deadline of every kuksa-client call
QUERY_TIMEOUT = 10.0  # deadline of a Zenoh get
MATCH_WINDOW = 3.0  # seconds around a read in which the same value must travel over Zenoh

VEHICLE = f"interop-{os.getpid()}"  # our own key space, whatever else runs on the machine
ZONAL = "zonal"  # the name `--ecu zonal` gives its ECU (crates/zenoh/src/config.rs)
SPEED = "Vehicle.Speed"
SOC_DISPLAYED = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed"  # float, 0..100
MODE = "Vehicle.Tomoe.Mode"  # exported by the central ECU, never imported
REFUSED = "refused a sample from Zenoh"


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


def _key(path: str) -> str:
    """The Zenoh key of a VSS path (crates/zenoh/src/keys.rs)."""
    return f"tomoe/{VEHICLE}/vss/{path.replace('.', '/')}"


# --------------------------------------------------------------------------- processes


@dataclass
class Tomoe:
    """One running `tomoe up --ecu ...`."""

    process: subprocess.Popen
    command: List[str]
    broker_port: int
    zenoh_endpoint: str
    stdout_path: Path
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return (
            f"command: {' '.join(self.command)}\n"
            f"--- stderr ---\n{self.stderr()[-4000:]}\n"
            f"--- stdout ---\n{self.stdout_path.read_text(errors='replace')[-2000:]}"
        )

    def assert_alive(self) -> None:
        assert self.process.poll() is None, (
            f"tomoe up exited with code {self.process.returncode}\n{self.output()}"
        )


def _start_tomoe(work: Path, ecu: str, extra: List[str]):
    """Starts `tomoe up --ecu <ecu>` listening for Zenoh on a free port; a generator
    for a fixture: yields a Tomoe once it printed "Tomoe is up", stops it afterwards."""
    binary = _tomoe_bin()
    if not binary.is_file():
        pytest.fail(
            f"Tomoe binary {binary} does not exist: build it with `cargo build -p tomoe` "
            "or point TOMOE_BIN at it",
            pytrace=False,
        )
    broker_port, zenoh_port = _free_port(), _free_port()
    endpoint = f"tcp/{HOST}:{zenoh_port}"
    command = [
        str(binary), "up", "--ecu", ecu, *extra,
        "--zenoh-listen", endpoint, "--vehicle-id", VEHICLE,
        "--address", f"{HOST}:{broker_port}",
        "--runtime-address", f"{HOST}:{_free_port()}",
        "--http-address", f"{HOST}:{_free_port()}",
        "--data-dir", str(work / "data"),
    ]
    stdout_path, stderr_path = work / "stdout.log", work / "stderr.log"
    # The refusals are logged as warnings: make sure warnings are on whatever TOMOE_LOG says.
    env = {**os.environ, "TOMOE_LOG": "warn"}
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env
        )
    tomoe = Tomoe(process, command, broker_port, endpoint, stdout_path, stderr_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "Tomoe is up" not in stdout_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tomoe up --ecu {ecu} did not start:\n{tomoe.output()}", pytrace=False)
            time.sleep(0.05)
        yield tomoe
        if process.poll() is not None:
            pytest.fail(
                f"tomoe up --ecu {ecu} died during the tests (exit code {process.returncode})\n"
                f"{tomoe.output()}",
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


def _open_session(endpoint: str) -> zenoh.Session:
    """A Zenoh client session that talks only to `endpoint`."""
    config = zenoh.Config()
    config.insert_json5("mode", json.dumps("client"))
    config.insert_json5("connect/endpoints", json.dumps([endpoint]))
    config.insert_json5("scouting/multicast/enabled", "false")
    return zenoh.open(config)


def _kuksa(port: int) -> VSSClient:
    # ensure_startup_connection=False: connect() would otherwise call GetServerInfo
    # without a deadline.
    client = VSSClient(HOST, port, ensure_startup_connection=False)
    client.connect()
    return client


def _current(client: VSSClient, path: str):
    """The current value of `path` in a broker, or None."""
    datapoint = client.get_current_values([path], timeout=RPC_TIMEOUT).get(path)
    return None if datapoint is None else datapoint.value


# --------------------------------------------------------------------------- reading


@pytest.fixture(scope="module")
def zonal(tmp_path_factory: pytest.TempPathFactory):
    """`tomoe up --ecu zonal`: the simulated Kona EV, ten times faster than real time."""
    yield from _start_tomoe(tmp_path_factory.mktemp("zonal"), "zonal", ["--speed", "10"])


@pytest.fixture(scope="module")
def zonal_session(zonal: Tomoe):
    session = _open_session(zonal.zenoh_endpoint)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="module")
def zonal_kuksa(zonal: Tomoe):
    client = _kuksa(zonal.broker_port)
    try:
        yield client
    finally:
        client.disconnect()


@dataclass
class Received:
    at: float  # time.monotonic() on arrival
    key: str
    payload: bytes
    encoding: str
    attachment: Optional[bytes]
    kind: zenoh.SampleKind


@dataclass
class Recorder:
    """Keeps every sample a subscriber receives (the callback runs on Zenoh's threads)."""

    samples: List[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, sample: zenoh.Sample) -> None:
        attachment = sample.attachment
        received = Received(
            time.monotonic(),
            str(sample.key_expr),
            sample.payload.to_bytes(),
            str(sample.encoding),
            None if attachment is None else attachment.to_bytes(),
            sample.kind,
        )
        with self.lock:
            self.samples.append(received)

    def of(self, key: str) -> List[Received]:
        with self.lock:
            return [s for s in self.samples if s.key == key]

    def wait(self, key: str, count: int, timeout: float = WAIT_TIMEOUT) -> List[Received]:
        deadline = time.monotonic() + timeout
        while len(self.of(key)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.of(key)


@pytest.fixture
def recorder(zonal_session: zenoh.Session):
    """Everything the zonal ECU publishes under tomoe/<vehicle>/vss/** while a test runs."""
    recorder = Recorder()
    subscriber = zonal_session.declare_subscriber(f"tomoe/{VEHICLE}/vss/**", recorder)
    try:
        yield recorder
    finally:
        subscriber.undeclare()


def _f32(value: float) -> float:
    """`value` rounded to the 32-bit float a VSS `float` signal holds: kuksa-client shows
    the float widened to a double, Zenoh carries its shortest decimal form."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _number(payload: bytes, what: str) -> float:
    try:
        value = json.loads(payload)
    except ValueError as exc:
        pytest.fail(f"{what}: payload {payload[:200]!r} is not JSON ({exc})")
    assert isinstance(value, (int, float)) and not isinstance(value, bool), (
        f"{what}: payload {payload[:200]!r} is not a JSON number"
    )
    return float(value)


def test_zonal_publishes_speed_as_json_with_its_ecu_name(zonal: Tomoe, recorder: Recorder):
    key = _key(SPEED)
    # The simulator idles for the first seconds of the drive cycle: wait for movement.
    deadline = time.monotonic() + WAIT_TIMEOUT
    speeds = set()
    while time.monotonic() < deadline and len(speeds) < 3:
        speeds = {_number(s.payload, key) for s in recorder.of(key)}
        time.sleep(0.1)
    samples = recorder.of(key)
    assert samples, f"no sample on {key} within {WAIT_TIMEOUT:.0f} s\n{zonal.output()}"
    assert len(speeds) >= 3, f"{SPEED} did not change over Zenoh: {len(samples)} samples, values {sorted(speeds)}"
    for sample in samples:
        assert sample.kind == zenoh.SampleKind.PUT, f"{key}: a {sample.kind} sample, expected PUT"
        assert sample.encoding == "application/json", f"{key}: encoding {sample.encoding!r}, expected application/json"
        assert sample.attachment == ZONAL.encode(), (
            f"{key}: attachment {sample.attachment!r}, expected the ECU name {ZONAL!r}"
        )
    # Every other signal follows the same rules, and only the vehicle's signals come.
    with recorder.lock:
        everything = list(recorder.samples)
    assert len({s.key for s in everything}) > 1, f"only {key} was published: {[s.key for s in everything[:5]]}"
    for sample in everything:
        assert sample.key.startswith(f"tomoe/{VEHICLE}/vss/Vehicle/"), f"unexpected key {sample.key}"
        assert sample.encoding == "application/json", f"{sample.key}: encoding {sample.encoding!r}"
        assert sample.attachment == ZONAL.encode(), f"{sample.key}: attachment {sample.attachment!r}"
        try:
            json.loads(sample.payload)
        except ValueError as exc:
            pytest.fail(f"{sample.key}: payload {sample.payload[:200]!r} is not JSON ({exc})")


def test_query_answers_the_present_value(zonal_session: zenoh.Session, recorder: Recorder):
    key = _key(SPEED)
    assert recorder.wait(key, 1), f"no sample on {key} within {WAIT_TIMEOUT:.0f} s"
    asked = time.monotonic()
    replies = list(zonal_session.get(key, timeout=QUERY_TIMEOUT))
    answered = time.monotonic()
    errors = [r.err.payload.to_bytes() for r in replies if r.err is not None]
    samples = [r.ok for r in replies if r.ok is not None]
    assert not errors, f"the query for {key} was answered with errors {errors}"
    assert len(samples) == 1, f"the query for {key} got {len(samples)} answers, expected 1"
    sample = samples[0]
    assert str(sample.key_expr) == key, f"the answer's key is {sample.key_expr}, expected {key}"
    assert str(sample.encoding) == "application/json", f"the answer's encoding is {sample.encoding}"
    attachment = sample.attachment
    assert attachment is not None and attachment.to_bytes() == ZONAL.encode(), (
        f"the answer's attachment is {attachment and attachment.to_bytes()!r}, expected {ZONAL!r}"
    )
    value = _number(sample.payload.to_bytes(), f"the answer for {key}")
    # The present value is the one last published: the subscriber saw it around then.
    recorder.wait(key, len(recorder.of(key)) + 1, timeout=MATCH_WINDOW)
    nearby = [
        _number(s.payload, key) for s in recorder.of(key)
        if asked - MATCH_WINDOW <= s.at <= answered + MATCH_WINDOW
    ]
    assert value in nearby, (
        f"the query answered {SPEED} = {value}, which was not published within {MATCH_WINDOW:.0f} s "
        f"of the query (published then: {nearby[-20:]})"
    )


def test_kuksa_client_reads_the_values_sent_over_zenoh(zonal_kuksa: VSSClient, recorder: Recorder):
    """Every value kuksa-client reads from the zonal broker travels over Zenoh too, unchanged
    (same float); a moving vehicle makes the match exact rather than trivially 0 = 0."""
    key = _key(SPEED)
    reads: List[tuple] = []  # (time, value) read with kuksa-client
    matched, missed = set(), []
    deadline = time.monotonic() + 2 * WAIT_TIMEOUT
    while time.monotonic() < deadline and len(matched) < 3:
        value = _current(zonal_kuksa, SPEED)
        if value is not None:
            reads.append((time.monotonic(), _f32(value)))
        now = time.monotonic()
        pending = []
        for at, read in reads:
            published = [_f32(_number(s.payload, key)) for s in recorder.of(key) if abs(s.at - at) <= MATCH_WINDOW]
            if read in published:
                if read != 0:
                    matched.add(read)
            elif now - at > MATCH_WINDOW:
                missed.append((read, published[-10:]))
            else:
                pending.append((at, read))
        reads = pending
        time.sleep(0.2)
    assert len(matched) >= 3, (
        f"kuksa-client read {SPEED} values that Zenoh did not carry: matched non-zero {sorted(matched)}, "
        f"missed (read, published around then) {missed[:5]}"
    )


# --------------------------------------------------------------------------- writing


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory):
    """`tomoe up --ecu central`: imports Vehicle.** from the ECU named zonal, which no
    process plays here but the Python session."""
    yield from _start_tomoe(tmp_path_factory.mktemp("central"), "central", [])


@pytest.fixture(scope="module")
def central_session(central: Tomoe):
    session = _open_session(central.zenoh_endpoint)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="module")
def central_kuksa(central: Tomoe):
    client = _kuksa(central.broker_port)
    try:
        yield client
    finally:
        client.disconnect()


def _put(session: zenoh.Session, path_or_key: str, payload: bytes, attachment: Optional[str]) -> None:
    key = path_or_key if path_or_key.startswith("tomoe/") else _key(path_or_key)
    if attachment is None:
        session.put(key, payload, encoding=zenoh.Encoding.APPLICATION_JSON)
    else:
        session.put(key, payload, encoding=zenoh.Encoding.APPLICATION_JSON, attachment=attachment)


def _publish_good(session: zenoh.Session, client: VSSClient, path: str, value: float) -> None:
    """Puts `value` as the zonal ECU until the central broker has it. Repeated because the
    first puts of a new session may go out before the bridge's subscription reached it."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        _put(session, path, json.dumps(value).encode(), ZONAL)
        got = _current(client, path)
        if got == value:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{path} = {value} from {ZONAL!r} was not imported within {WAIT_TIMEOUT:.0f} s (read {got})")
        time.sleep(0.1)


def _refusals(central: Tomoe) -> List[str]:
    return [line for line in central.stderr().splitlines() if REFUSED in line]


def _wait_for_refusals(central: Tomoe, count: int) -> List[str]:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while len(_refusals(central)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return _refusals(central)


@dataclass
class Bad:
    """One bad sample and how the central ECU logs its refusal."""

    id: str
    key: str  # a VSS path, or a whole key
    payload: bytes
    attachment: Optional[str]
    reason: str  # the RefusalReason as logged: `reason=<Debug name>`
    detail: str  # part of the logged detail
    guard: str = SPEED  # a path whose good value must survive the sample


BAD_SAMPLES = [
    Bad("no-sender", SPEED, b"13.0", None, "NoSender", "no ECU name attached"),
    Bad("unknown-path", "Vehicle.ThisSignal.DoesNotExist", b"13.0", ZONAL, "UnknownPath", "no such signal"),
    Bad("not-permitted-path", MODE, b'"SERVICE"', ZONAL, "NotPermitted", f"{ZONAL} may not provide {MODE}"),
    Bad("not-permitted-sender", SPEED, b"13.0", "intruder", "NotPermitted", f"intruder may not provide {SPEED}"),
    Bad("not-json", SPEED, b"{speed: 13", ZONAL, "Malformed", "not JSON"),
    # Valid JSON (a number and blanks), refused for its size alone.
    Bad("too-large", SPEED, b"13.0" + b" " * (64 * 1024), ZONAL, "Malformed", "bytes, more than the 65536"),
    # 20 000 bytes of valid JSON, nested 10 000 deep.
    Bad("too-deep", SPEED, b"[" * 10_000 + b"]" * 10_000, ZONAL, "Malformed", "recursion limit"),
    Bad("wrong-type", SPEED, b'"fast"', ZONAL, "InvalidValue", "not a valid float"),
    Bad("out-of-range", SOC_DISPLAYED, b"150.0", ZONAL, "InvalidValue", "out of range", guard=SOC_DISPLAYED),
]


@pytest.mark.parametrize("bad", BAD_SAMPLES, ids=[b.id for b in BAD_SAMPLES])
def test_bad_sample_is_refused_and_logged(
    central: Tomoe, central_session: zenoh.Session, central_kuksa: VSSClient, bad: Bad
):
    good = 40.0 + BAD_SAMPLES.index(bad)
    _publish_good(central_session, central_kuksa, bad.guard, good)
    before = len(_refusals(central))

    _put(central_session, bad.key, bad.payload, bad.attachment)

    lines = _wait_for_refusals(central, before + 1)
    new = lines[before:]
    key = bad.key if bad.key.startswith("tomoe/") else _key(bad.key)
    assert new, f"no {REFUSED!r} on stderr within {WAIT_TIMEOUT:.0f} s\n{central.output()}"
    assert len(new) == 1, f"one bad sample was refused {len(new)} times: {new}"
    line = new[0]
    assert f"reason={bad.reason} " in line, f"the refusal says {line!r}, expected reason={bad.reason}"
    assert f'key="{key}"' in line, f"the refusal says {line!r}, expected key {key}"
    assert bad.detail in line, f"the refusal says {line!r}, expected a detail with {bad.detail!r}"

    central.assert_alive()
    got = _current(central_kuksa, bad.guard)
    assert got == good, f"{bad.guard} is {got} after the refused sample, expected {good} to stay"
    if bad.key == MODE:
        mode = _current(central_kuksa, MODE)
        assert mode != "SERVICE", f"{MODE} became {mode!r}: the central ECU took its own signal from {ZONAL}"


def test_receiver_still_imports_after_a_burst_of_bad_samples(
    central: Tomoe, central_session: zenoh.Session, central_kuksa: VSSClient
):
    _publish_good(central_session, central_kuksa, SPEED, 98.0)
    before = len(_refusals(central))
    for bad in BAD_SAMPLES:
        _put(central_session, bad.key, bad.payload, bad.attachment)
    # One put, no retry: the session's route to the bridge is established, so a
    # receiver that still works imports it.
    _put(central_session, SPEED, b"99.5", ZONAL)

    deadline = time.monotonic() + WAIT_TIMEOUT
    got = _current(central_kuksa, SPEED)
    while got != 99.5 and time.monotonic() < deadline:
        time.sleep(0.1)
        got = _current(central_kuksa, SPEED)
    assert got == 99.5, (
        f"{SPEED} is {got} {WAIT_TIMEOUT:.0f} s after a good sample that followed {len(BAD_SAMPLES)} "
        f"bad ones, expected 99.5\n{central.output()}"
    )
    lines = _wait_for_refusals(central, before + len(BAD_SAMPLES))
    assert len(lines) - before == len(BAD_SAMPLES), (
        f"{len(BAD_SAMPLES)} bad samples, {len(lines) - before} refusals logged: {lines[before:]}"
    )
    central.assert_alive()
    # The central ECU's own Zenoh side still answers too.
    replies = list(central_session.get(_key(MODE), timeout=QUERY_TIMEOUT))
    modes = [r.ok.payload.to_bytes() for r in replies if r.ok is not None]
    assert len(modes) == 1, f"the query for {MODE} at the central ECU got {len(modes)} answers: {replies}"
