"""The tenant wall as an unmodified KUKSA client sees it.

`tomoe serve --alliance alliance` (the demo alliance: each tenant's token keys and
private VSS branch) runs as a real process; the Python `kuksa-client` presents
tokens that PyJWT signs with the tenants' demo keys (alliance/demo-keys). A
Nissan token whose scopes allow everything reads common VSS and Nissan's own
branch, and is refused (PERMISSION_DENIED / 403, with the reason) on Honda's
branch, for reading and for setting an actuator's target.
"""

from __future__ import annotations

import time

import grpc
import jwt
import pytest
from kuksa_client.grpc import Datapoint, VSSClient, VSSClientError
from tomoe_process import HOST, REPO_ROOT, free_port, running

RPC_TIMEOUT = 10.0
WALL = "is private to tenant honda and the token's tenant is nissan"


def _token(tenant_key: str, scope: str) -> str:
    now = int(time.time())
    claims = {"sub": "kuksa-client", "aud": ["kuksa.val"], "iat": now, "exp": now + 600, "scope": scope}
    key = (REPO_ROOT / "alliance" / "demo-keys" / f"{tenant_key}-token.pem").read_text()
    return jwt.encode(claims, key, algorithm="EdDSA")


@pytest.fixture(scope="module")
def broker_port(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("tenants")
    port = free_port()
    args = ["serve", "--address", f"{HOST}:{port}", "--data-dir", str(work / "data"),
            "--alliance", str(REPO_ROOT / "alliance")]
    with running(args, work, "tomoe broker listening on"):
        yield port


@pytest.fixture
def nissan(broker_port: int):
    client = VSSClient(HOST, broker_port, token=_token("nissan", "read:** actuate:** provide:**"),
                       ensure_startup_connection=False)
    client.connect()
    try:
        yield client
    finally:
        client.disconnect()


def _refused(raised: pytest.ExceptionInfo[VSSClientError]) -> None:
    error = raised.value
    details = [error.error] + [entry.get("error", {}) for entry in error.errors]
    codes = [detail.get("code") for detail in details]
    messages = " ".join(str(detail.get("message", "")) for detail in details)
    assert 403 in codes or grpc.StatusCode.PERMISSION_DENIED.value[0] in codes, error.to_dict()
    assert WALL in messages, error.to_dict()


def test_common_vss_and_the_own_branch_are_readable(nissan: VSSClient):
    nissan.set_current_values({"Vehicle.Private.Nissan.BatteryHealth": Datapoint(91.5)}, timeout=RPC_TIMEOUT)
    values = nissan.get_current_values(["Vehicle.Speed", "Vehicle.Private.Nissan.BatteryHealth"],
                                       timeout=RPC_TIMEOUT)
    assert values["Vehicle.Private.Nissan.BatteryHealth"].value == 91.5, values


def test_hondas_branch_is_refused_whatever_the_scopes(nissan: VSSClient):
    with pytest.raises(VSSClientError) as raised:
        nissan.get_current_values(["Vehicle.Private.Honda.DriverAttention"], timeout=RPC_TIMEOUT)
    _refused(raised)
    with pytest.raises(VSSClientError) as raised:
        nissan.set_target_values({"Vehicle.Private.Honda.Cabin.AmbientTheme": Datapoint("SPORT")},
                                 timeout=RPC_TIMEOUT)
    _refused(raised)


def test_hondas_own_token_reads_its_branch(broker_port: int):
    client = VSSClient(HOST, broker_port, token=_token("honda", "read:Vehicle.Private.**"),
                       ensure_startup_connection=False)
    client.connect()
    try:
        values = client.get_current_values(["Vehicle.Private.Honda.DriverAttention"], timeout=RPC_TIMEOUT)
        assert "Vehicle.Private.Honda.DriverAttention" in values
    finally:
        client.disconnect()
