"""Fault injection: determinism, endpoint groups and what each fault looks like on the wire."""

from __future__ import annotations

import pytest

from emulator.config import EmulatorConfig
from emulator.faults import FaultInjector, FaultProfile, FaultSpec, endpoint_group
from emulator.middleware import ConnectionResetFault
from emulator.testing import core_login, in_process


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/services/oauth2/token", "auth"),
        ("/services/Soap/u/59.0", "auth"),
        ("/services/a360/token", "auth"),
        ("/api/v2/query", "datacloud"),
        ("/services/data/v59.0/ssot/queryv2", "datacloud"),
        ("/services/data/v59.0/jobs/ingest/750x", "bulk2"),
        ("/services/data/v59.0/query", "soql"),
        ("/services/data/v59.0/queryAll", "soql"),
        ("/services/data/v59.0/limits", "limits"),
        ("/services/data/v59.0/sobjects/Account/describe", "rest"),
        ("/__emulator__/counts", None),
    ],
)
def test_endpoint_groups(path: str, group: str | None) -> None:
    assert endpoint_group(path) == group


def test_off_by_default_and_same_seed_same_faults() -> None:
    assert FaultInjector().decide("bulk2").failure is None
    profile = FaultProfile(seed=5, groups={"*": FaultSpec(error_5xx_rate=0.3, reset_rate=0.1)})
    one, two = FaultInjector(profile), FaultInjector(profile)
    a = [one.decide("soql").failure for _ in range(200)]
    b = [two.decide("soql").failure for _ in range(200)]
    assert a == b
    assert 30 < a.count("5xx") < 90 and a.count("reset") > 5


def test_profile_parsing_rejects_unknown_names(tmp_path: object) -> None:
    profile = FaultProfile.load('{"seed": 3, "groups": {"bulk2": {"job_failed_rate": 0.5}}}')
    assert profile.groups["bulk2"].job_failed_rate == 0.5
    with pytest.raises(ValueError, match="unknown endpoint group"):
        FaultProfile.from_dict({"groups": {"bulkk": {}}})
    with pytest.raises(ValueError, match="unknown fault settings"):
        FaultProfile.from_dict({"groups": {"bulk2": {"typo_rate": 1}}})


def test_roll_for_model_side_faults() -> None:
    injector = FaultInjector(FaultProfile(groups={"bulk2": FaultSpec(job_failed_rate=1.0)}))
    assert injector.roll("bulk2", "job_failed") is True
    assert injector.roll("soql", "job_failed") is False
    assert injector.injected["job_failed"] == 1


def _with(spec: FaultSpec, group: str = "limits") -> EmulatorConfig:
    return EmulatorConfig(time_scale=0, faults=FaultProfile(seed=1, groups={group: spec}))


def test_5xx_fault() -> None:
    with in_process(_with(FaultSpec(error_5xx_rate=1.0))) as (_, client):
        auth = {"Authorization": f"Bearer {core_login(client)}"}
        r = client.get("/services/data/v59.0/limits", headers=auth)
        assert r.status_code == 503
        assert r.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_limit_burst_fault_lasts_burst_length() -> None:
    spec = FaultSpec(limit_burst_rate=1.0, limit_burst_length=3)
    with in_process(_with(spec)) as (state, client):
        auth = {"Authorization": f"Bearer {core_login(client)}"}
        r = client.get("/services/data/v59.0/limits", headers=auth)
        assert r.status_code == 403 and r.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        state.faults.profile.groups["limits"].limit_burst_rate = 0.0
        codes = [
            client.get("/services/data/v59.0/limits", headers=auth).status_code for _ in range(3)
        ]
        assert codes == [403, 403, 200]


def test_session_expiry_fault_gives_401_and_kills_the_token() -> None:
    with in_process(_with(FaultSpec(session_expiry_rate=1.0))) as (state, client):
        token = core_login(client)
        r = client.get("/services/data/v59.0/limits", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()[0]["errorCode"] == "INVALID_SESSION_ID"
        assert state.sessions.validate(token, "core") is None


def test_datacloud_429_fault_is_an_object_on_the_tenant_host() -> None:
    with in_process(_with(FaultSpec(throttle_429_rate=1.0), "datacloud")) as (_, client):
        r = client.post("/api/v2/query", json={"sql": "SELECT 1"})
        assert r.status_code == 429
        assert r.json()["errorCode"] == "TOO_MANY_REQUESTS"


def test_reset_fault_without_a_socket_raises() -> None:
    with (
        in_process(_with(FaultSpec(reset_rate=1.0))) as (_, client),
        pytest.raises(ConnectionResetFault),
    ):
        client.get("/services/data/v59.0/limits")


def test_latency_fault_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    with in_process(_with(FaultSpec(latency_seconds=0.3, latency_rate=1.0))) as (_, client):
        started = time.perf_counter()
        client.get("/services/data/v59.0/limits")
        assert time.perf_counter() - started >= 0.3


def test_admin_paths_never_get_faults() -> None:
    with in_process(_with(FaultSpec(error_5xx_rate=1.0), "*")) as (_, client):
        assert client.get("/__emulator__/health").status_code == 200
