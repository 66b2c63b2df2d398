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
  unknown path, sender or path not allowed, malformed, invalid value) is refused,
  logged on stderr and counted on /metrics (`tomoe_bridge_refused_total` by reason),
  leaves the stored value alone and does not stop or wedge the receiver.
- Backend: plain `tomoe up --telemetry-policy ... --jwt-public-key ...` is the
  vehicle's gateway; the Python session plays the fleet backend. It receives the
  telemetry the policy selects (Speed no faster than its interval, nothing the policy
  leaves out) under `tomoe/<vehicle>/telemetry/...`, and sends `command/get` and
  `command/actuate` queries with a JWT (minted with PyJWT from the test keys in
  crates/tomoe/tests/fixtures/jwt) attached: answered when the token's scope allows
  them, refused with a JSON error (`unauthenticated`, `permission_denied`,
  `not_found`, `invalid_argument`) otherwise.

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
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import jwt
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
    """One running `tomoe up`."""

    process: subprocess.Popen
    command: List[str]
    broker_port: int
    http_port: int
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


def _start_tomoe(work: Path, ecu: Optional[str], extra: List[str], vehicle: str = VEHICLE):
    """Starts `tomoe up --ecu <ecu>` (plain `tomoe up` without an ECU role) listening
    for Zenoh on a free port; a generator for a fixture: yields a Tomoe once it printed
    "Tomoe is up", stops it afterwards."""
    binary = _tomoe_bin()
    if not binary.is_file():
        pytest.fail(
            f"Tomoe binary {binary} does not exist: build it with `cargo build -p tomoe` "
            "or point TOMOE_BIN at it",
            pytrace=False,
        )
    broker_port, zenoh_port, http_port = _free_port(), _free_port(), _free_port()
    endpoint = f"tcp/{HOST}:{zenoh_port}"
    name = "tomoe up" if ecu is None else f"tomoe up --ecu {ecu}"
    command = [
        str(binary), "up", *([] if ecu is None else ["--ecu", ecu]), *extra,
        "--zenoh-listen", endpoint, "--vehicle-id", vehicle,
        "--address", f"{HOST}:{broker_port}",
        "--runtime-address", f"{HOST}:{_free_port()}",
        "--http-address", f"{HOST}:{http_port}",
        "--data-dir", str(work / "data"),
    ]
    stdout_path, stderr_path = work / "stdout.log", work / "stderr.log"
    # The refusals are logged as warnings: make sure warnings are on whatever TOMOE_LOG says.
    env = {**os.environ, "TOMOE_LOG": "warn"}
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env
        )
    tomoe = Tomoe(process, command, broker_port, http_port, endpoint, stdout_path, stderr_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "Tomoe is up" not in stdout_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start:\n{tomoe.output()}", pytrace=False)
            time.sleep(0.05)
        yield tomoe
        if process.poll() is not None:
            pytest.fail(
                f"{name} died during the tests (exit code {process.returncode})\n"
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


def _refused_metric(tomoe: Tomoe, reason: str) -> float:
    """`tomoe_bridge_refused_total` for `reason` (the logged Debug name, NotPermitted)
    on the process's /metrics, as its label spells it (not_permitted)."""
    label = "".join(f"_{c.lower()}" if c.isupper() else c for c in reason).lstrip("_")
    line_start = f'tomoe_bridge_refused_total{{reason="{label}"}} '
    url = f"http://{HOST}:{tomoe.http_port}/metrics"
    with urllib.request.urlopen(url, timeout=RPC_TIMEOUT) as response:
        text = response.read().decode()
    values = [float(line[len(line_start):]) for line in text.splitlines() if line.startswith(line_start)]
    assert len(values) == 1, f"{line_start.strip()} is not on /metrics:\n{text[:4000]}"
    return values[0]


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
    counted = _refused_metric(central, bad.reason)

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
    # Counted before it is logged: /metrics shows it now.
    now = _refused_metric(central, bad.reason)
    assert now == counted + 1, f"tomoe_bridge_refused_total for {bad.reason} went {counted} -> {now}, expected +1"

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


# --------------------------------------------------------------------------- backend

BACKEND_VEHICLE = "backend-test"
MAIN = "main"  # the ECU name of a plain `tomoe up` (crates/tomoe/src/cli.rs)
JWT_KEYS = REPO_ROOT / "crates" / "tomoe" / "tests" / "fixtures" / "jwt"
GEAR = "Vehicle.Powertrain.Transmission.SelectedGear"
CHARGE_LIMIT = "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit"
SPEED_INTERVAL = 0.5  # min_interval_ms of Vehicle.Speed in TELEMETRY_POLICY
TELEMETRY_POLICY = f"""
[[signal]]
paths = ["{SPEED}"]
min_interval_ms = {int(SPEED_INTERVAL * 1000)}
deadband = 1.0

[[signal]]
paths = ["{GEAR}"]
"""
TELEMETRY_KEYS = {  # everything the policy lets out; StateOfCharge and the rest stay in
    f"tomoe/{BACKEND_VEHICLE}/telemetry/{path.replace('.', '/')}": path for path in (SPEED, GEAR)
}
TELEMETRY_WINDOW = 4.0  # seconds in which Speed may arrive at most WINDOW / INTERVAL + 1 times
TELEMETRY_OBSERVE = 6.0  # seconds watched after the first Speed sample (a stop lasts up to 4 s at --speed 10)
COMMAND_TIMEOUT = 5.0  # crates/zenoh/src/gateway.rs COMMAND_TIMEOUT: the vehicle's wait plus the way


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory):
    """Plain `tomoe up` as the vehicle's gateway: telemetry by TELEMETRY_POLICY, commands
    verified with signing.pub (and the data directory's own key)."""
    work = tmp_path_factory.mktemp("gateway")
    policy = work / "telemetry-policy.toml"
    policy.write_text(TELEMETRY_POLICY)
    extra = [
        "--speed", "10",
        "--telemetry-policy", str(policy),
        "--jwt-public-key", str(JWT_KEYS / "signing.pub"),
    ]
    yield from _start_tomoe(work, None, extra, vehicle=BACKEND_VEHICLE)


@pytest.fixture(scope="module")
def backend(gateway: Tomoe):
    """The fleet backend's Zenoh session."""
    session = _open_session(gateway.zenoh_endpoint)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def telemetry(backend: zenoh.Session):
    """Everything the backend receives under tomoe/<vehicle>/telemetry/** while a test runs."""
    recorder = Recorder()
    subscriber = backend.declare_subscriber(f"tomoe/{BACKEND_VEHICLE}/telemetry/**", recorder)
    try:
        yield recorder
    finally:
        subscriber.undeclare()


def _token(scope: str, key: str = "signing.key", lifetime: int = 300) -> str:
    """A backend's JWT, as crates/tomoe/tests/support/mod.rs `token` makes them: RS256,
    signed with the fixture `key`, granting `scope` (KUKSA syntax), expiring `lifetime`
    seconds from now (negative: already expired)."""
    now = int(time.time())
    claims = {
        "sub": "fleet-backend",
        "iss": "tomoe-interop",
        "aud": ["kuksa.val"],
        "iat": now,
        "exp": now + lifetime,
        "scope": scope,
    }
    return jwt.encode(claims, (JWT_KEYS / key).read_text(), algorithm="RS256")


@dataclass
class Answer:
    """The one answer to a command: `ok` the JSON of a good reply, or `err` the JSON
    error object of an error reply."""

    ok: object = None
    err: Optional[dict] = None


def _command(session: zenoh.Session, kind: str, payload, token: Optional[str]) -> Answer:
    """Sends one `command/<kind>` query with `token` attached (none without one). A query
    that gets no reply at all is sent again until WAIT_TIMEOUT: right after connecting,
    the backend may not know the vehicle's queryable yet."""
    key = f"tomoe/{BACKEND_VEHICLE}/command/{kind}"
    options = {} if token is None else {"attachment": token}
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        replies = list(session.get(key, payload=payload, timeout=COMMAND_TIMEOUT, **options))
        if replies:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"no reply to {key} within {WAIT_TIMEOUT:.0f} s")
        time.sleep(0.1)
    assert len(replies) == 1, f"{key} got {len(replies)} replies, expected 1"
    reply = replies[0]
    if reply.ok is not None:
        sample = reply.ok
        assert str(sample.encoding) == "application/json", f"{key}: the answer's encoding is {sample.encoding}"
        text = sample.payload.to_bytes()
        try:
            return Answer(ok=json.loads(text))
        except ValueError as exc:
            pytest.fail(f"{key}: the answer {text[:200]!r} is not JSON ({exc})")
    error = reply.err
    assert str(error.encoding) == "application/json", f"{key}: the error's encoding is {error.encoding}"
    text = error.payload.to_bytes()
    try:
        body = json.loads(text)
    except ValueError as exc:
        pytest.fail(f"{key}: the error {text[:200]!r} is not JSON ({exc})")
    assert isinstance(body, dict) and set(body) == {"code", "message"}, (
        f"{key}: the error {text[:200]!r} is not a JSON object of code and message"
    )
    assert isinstance(body["message"], str) and body["message"], f"{key}: the error {body} has no message"
    return Answer(err=body)


def _answered(answer: Answer, what: str):
    assert answer.err is None, f"{what} was refused: {answer.err}"
    return answer.ok


def test_backend_receives_the_telemetry_the_policy_selects(gateway: Tomoe, telemetry: Recorder):
    speed_key = next(key for key, path in TELEMETRY_KEYS.items() if path == SPEED)
    first = telemetry.wait(speed_key, 1)
    assert first, f"no telemetry sample on {speed_key} within {WAIT_TIMEOUT:.0f} s\n{gateway.output()}"
    time.sleep(max(0.0, first[0].at + TELEMETRY_OBSERVE - time.monotonic()))
    with telemetry.lock:
        everything = list(telemetry.samples)
    speeds = [s for s in everything if s.key == speed_key]

    # The policy's signals and nothing else: a vehicle this busy changes StateOfCharge,
    # CurrentPower, Acceleration... every few frames.
    outside = sorted({s.key for s in everything} - set(TELEMETRY_KEYS))
    assert not outside, f"telemetry the policy does not select arrived: {outside[:10]}"
    for sample in everything:
        assert sample.kind == zenoh.SampleKind.PUT, f"{sample.key}: a {sample.kind} sample, expected PUT"
        assert sample.encoding == "application/json", f"{sample.key}: encoding {sample.encoding!r}"
        assert sample.attachment == MAIN.encode(), (
            f"{sample.key}: attachment {sample.attachment!r}, expected the ECU name {MAIN!r}"
        )
        _number(sample.payload, sample.key)  # Speed a float, SelectedGear an int8

    # Speed flows, never faster than one sample per interval (a late delivery may close
    # up on the next one: one sample of margin per window).
    assert len(speeds) >= 2, (
        f"{len(speeds)} samples on {speed_key} in {TELEMETRY_OBSERVE:.0f} s, expected the moving "
        f"vehicle's speed: {[s.payload for s in speeds]}"
    )
    allowed = int(TELEMETRY_WINDOW / SPEED_INTERVAL) + 1
    for sample in speeds:
        window = [s for s in speeds if sample.at <= s.at < sample.at + TELEMETRY_WINDOW]
        assert len(window) <= allowed + 1, (
            f"{len(window)} samples on {speed_key} within {TELEMETRY_WINDOW:.0f} s, at most {allowed} "
            f"allowed by min_interval_ms = {int(SPEED_INTERVAL * 1000)}: arrived at "
            f"{[round(s.at - sample.at, 3) for s in window]} s"
        )


def test_get_with_a_read_token_answers_the_value(backend: zenoh.Session):
    answer = _command(backend, "get", json.dumps([SPEED]), _token(f"read:{SPEED}"))
    values = _answered(answer, f"get {SPEED} with a read:{SPEED} token")
    assert isinstance(values, dict) and list(values) == [SPEED], f"get {SPEED} answered {values!r}"
    speed = values[SPEED]
    assert isinstance(speed, (int, float)) and not isinstance(speed, bool), (
        f"get {SPEED} answered {speed!r}, expected a number"
    )


def test_actuate_with_an_actuate_token_is_accepted(backend: zenoh.Session):
    """The simulated vehicle's CAN write-back provides ChargeLimit in a plain `tomoe up`."""
    answer = _command(
        backend, "actuate", json.dumps({CHARGE_LIMIT: 80}), _token(f"actuate:{CHARGE_LIMIT}")
    )
    assert _answered(answer, f"actuate {CHARGE_LIMIT} = 80") == {}, f"actuate answered {answer.ok!r}, expected {{}}"


@dataclass
class Refused:
    """One command the gateway must refuse, and the error it answers with."""

    id: str
    kind: str  # get or actuate
    payload: bytes
    token: Optional[Callable[[], str]]  # mints the attached token; None: nothing attached
    code: str
    detail: str  # part of the error's message


def _read_speed() -> str:
    return _token(f"read:{SPEED}")


REFUSED_COMMANDS = [
    Refused("get-outside-the-scope", "get", json.dumps([SOC_DISPLAYED]).encode(), _read_speed,
            "permission_denied", SOC_DISPLAYED),
    # One path outside the scope refuses the whole command.
    Refused("get-partly-outside-the-scope", "get", json.dumps([SPEED, SOC_DISPLAYED]).encode(), _read_speed,
            "permission_denied", SOC_DISPLAYED),
    Refused("no-token", "get", json.dumps([SPEED]).encode(), None, "unauthenticated", "no token"),
    Refused("other-key", "get", json.dumps([SPEED]).encode(), lambda: _token(f"read:{SPEED}", key="other.key"),
            "unauthenticated", "signature"),
    Refused("expired", "get", json.dumps([SPEED]).encode(), lambda: _token(f"read:{SPEED}", lifetime=-60),
            "unauthenticated", "expired"),
    Refused("actuate-with-a-read-token", "actuate", json.dumps({CHARGE_LIMIT: 80}).encode(),
            lambda: _token(f"read:{CHARGE_LIMIT}"), "permission_denied", CHARGE_LIMIT),
    Refused("get-not-json", "get", b'["Vehicle.Speed"', _read_speed, "invalid_argument", "not JSON"),
    Refused("actuate-not-json", "actuate", b"{ChargeLimit: 80}", lambda: _token(f"actuate:{CHARGE_LIMIT}"),
            "invalid_argument", "not JSON"),
    Refused("get-unknown-path", "get", b'["Vehicle.ThisSignal.DoesNotExist"]',
            lambda: _token("read:Vehicle.ThisSignal.DoesNotExist"), "not_found", "no such signal"),
]


@pytest.mark.parametrize("refused", REFUSED_COMMANDS, ids=[r.id for r in REFUSED_COMMANDS])
def test_command_is_refused_with_a_json_error(gateway: Tomoe, backend: zenoh.Session, refused: Refused):
    token = None if refused.token is None else refused.token()
    answer = _command(backend, refused.kind, refused.payload, token)
    assert answer.err is not None, (
        f"{refused.kind} {refused.payload[:100]!r} was answered {answer.ok!r}, expected a {refused.code} error"
    )
    assert answer.err["code"] == refused.code, f"refused with {answer.err}, expected code {refused.code!r}"
    assert refused.detail in answer.err["message"], (
        f"refused with {answer.err}, expected a message with {refused.detail!r}"
    )
    gateway.assert_alive()
