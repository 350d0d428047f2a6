"""Seeder determinism/shape/skew and the admin API."""

from __future__ import annotations

import collections
import itertools
import random

import pytest

from emulator.config import EmulatorConfig
from emulator.datacloud.seed import account_picker, external_id, generate_rows
from emulator.ids import is_valid_id
from emulator.testing import in_process

T = '"Opportunity_Source__dlm"'


def test_rows_are_deterministic_per_seed() -> None:
    ids = [f"001x{i}" for i in range(10)]
    a = list(generate_rows(500, ids, skew=1.0, seed=3, hostile=True))
    b = list(generate_rows(500, ids, skew=1.0, seed=3, hostile=True))
    c = list(generate_rows(500, ids, skew=1.0, seed=4, hostile=True))
    assert a == b and a != c
    assert a[0][0] == "externalOpp0000001" == external_id(1)
    assert len(a[0]) == 10


def test_skew_concentrates_rows_on_few_accounts() -> None:
    uniform = collections.Counter(
        itertools.islice(account_picker(100, 0.0, random.Random(1)), 20_000)
    )
    zipf = collections.Counter(itertools.islice(account_picker(100, 1.2, random.Random(1)), 20_000))
    assert max(uniform.values()) < 300
    assert max(zipf.values()) > 3000
    assert len(uniform) == 100


def test_seed_via_admin_creates_org_accounts_and_rows() -> None:
    with in_process() as (state, client):
        r = client.post("/__emulator__/seed", json={"rows": 1000, "accounts": 25, "seed": 5})
        assert r.status_code == 200 and r.json()["rows"] == 1000
        counts = client.get("/__emulator__/counts").json()
        assert counts["tables"]["Opportunity_Source__dlm"] == 1000
        assert counts["tables"]["Account"] == 25
        conn = state.connect()
        refs = {row[0] for row in conn.execute(f'SELECT DISTINCT "AccountId__c" FROM {T}')}
        from emulator.org.schema import ACCOUNT

        accounts = {row[0] for row in conn.execute(f'SELECT "Id" FROM {ACCOUNT.table}')}
        assert refs <= accounts and all(is_valid_id(x) for x in refs)
        again = client.post("/__emulator__/seed", json={"rows": 1000, "accounts": 25, "seed": 5})
        assert again.status_code == 200
        assert conn.execute(f"SELECT COUNT(*) FROM {T}").fetchone()[0] == 1000
        assert client.post("/__emulator__/seed", json={"rows": -1}).status_code == 400


def test_admin_reset_faults_config_clock_refresh() -> None:
    with in_process(EmulatorConfig(time_scale=0, users={"u": "p"})) as (state, client):
        client.post("/__emulator__/seed", json={"rows": 10, "accounts": 2})
        assert client.post("/__emulator__/reset").status_code == 204
        assert client.get("/__emulator__/counts").json()["tables"]["Opportunity_Source__dlm"] == 0
        profile = {"seed": 9, "groups": {"bulk2": {"error_5xx_rate": 0.5}}}
        r = client.put("/__emulator__/faults", json=profile)
        assert r.status_code == 200 and r.json()["groups"]["bulk2"]["error_5xx_rate"] == 0.5
        assert client.get("/__emulator__/faults").json()["seed"] == 9
        bad = client.put("/__emulator__/faults", json={"groups": {"nope": {}}})
        assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_INPUT"
        assert client.delete("/__emulator__/faults").status_code == 204
        assert not state.faults.enabled
        config = client.get("/__emulator__/config").json()
        assert config["users"] == ["u"] and config["query_batch_max_rows"] == 50_000
        assert "p" not in str(config["users"])
        before = state.clock.time()
        client.post("/__emulator__/clock/advance", json={"seconds": 100})
        assert state.clock.time() - before >= 100
        token = client.post("/__emulator__/refresh-tokens", json={"username": "u"}).json()
        assert state.sessions.redeem_refresh_token(token["refresh_token"]) == ("u", None)


def test_counts_logins_token_exchanges_and_datacloud_queries_until_reset() -> None:
    """The org counts what no daily allowance does, so a benchmark can report it server-side."""
    from emulator.testing import core_login

    with in_process() as (_state, client):
        client.post("/__emulator__/seed", json={"rows": 30, "accounts": 3})
        core = core_login(client)
        core_login(client)
        exchange = client.post(
            "/services/a360/token",
            data={
                "grant_type": "urn:salesforce:grant-type:external:cdp",
                "subject_token": core,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            },
        )
        exchange.raise_for_status()
        headers = {"Authorization": f"Bearer {exchange.json()['access_token']}"}
        for _ in range(3):
            sql = 'SELECT "ExternalId__c" FROM "Opportunity_Source__dlm"'
            client.post("/api/v2/query", json={"sql": sql}, headers=headers).raise_for_status()
        events = client.get("/__emulator__/counts").json()["events"]
        assert events == {"login": 2, "token_exchange": 1, "datacloud_query": 3}
        client.post("/__emulator__/reset")
        assert client.get("/__emulator__/counts").json()["events"] == {}


def test_zipf_1_5_at_2m_rows_has_a_parent_of_more_than_50000_children() -> None:
    """The benchmark's giant-parent profile: Zipf 1.5 over 20,000 Accounts, 2,000,000 rows."""
    draws = account_picker(20_000, 1.5, random.Random(42))
    largest = collections.Counter(itertools.islice(draws, 2_000_000)).most_common(1)[0][1]
    assert largest > 50_000
    # ~1 / H(20,000; 1.5) = 38.5 % of the rows: the bound is set by that one Account.
    assert 0.35 < largest / 2_000_000 < 0.42


def test_giant_share_gives_one_account_that_share_and_leaves_other_seeds_unchanged() -> None:
    ids = [f"001x{i}" for i in range(1_000)]
    plain = list(generate_rows(20_000, ids, seed=3))
    assert plain == list(generate_rows(20_000, ids, seed=3, giant_share=0.0))
    giant = list(generate_rows(20_000, ids, seed=3, giant_share=0.15))
    parents = collections.Counter(row[5] for row in giant)
    (_, top), (_, second) = parents.most_common(2)
    assert 0.14 < top / 20_000 < 0.16 and second < 60
    assert [row[0] for row in giant] == [row[0] for row in plain]
    with pytest.raises(ValueError, match="giant_share"):
        list(generate_rows(1, ids, giant_share=1.0))


def test_seed_via_admin_takes_a_giant_share() -> None:
    with in_process() as (state, client):
        r = client.post(
            "/__emulator__/seed", json={"rows": 2_000, "accounts": 50, "giant_share": 0.5}
        )
        assert r.status_code == 200, r.text
        top = state.connect().execute(
            f'SELECT COUNT(*) FROM {T} GROUP BY "AccountId__c" ORDER BY 1 DESC LIMIT 1'
        )
        assert top.fetchone()[0] > 900
        assert (
            client.post("/__emulator__/seed", json={"rows": 1, "giant_share": 1}).status_code == 400
        )
