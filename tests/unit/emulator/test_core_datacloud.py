"""Query V2: shape, typing, SQL semantics, batch caps, single-use ids and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.config import EmulatorConfig
from emulator.datacloud.seed import seed_opportunity_source
from emulator.testing import core_login, in_process

T = '"Opportunity_Source__dlm"'


class DC:
    """Tiny Query V2 client over the in-process app (tenant form by default)."""

    def __init__(self, state: Any, client: Any) -> None:
        self.state, self.client = state, client
        core = core_login(client)
        self.core = {"Authorization": f"Bearer {core}"}
        r = client.post(
            "/services/a360/token",
            data={"grant_type": "urn:salesforce:grant-type:external:cdp", "subject_token": core},
        )
        self.auth = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def post(self, sql: str) -> Any:
        return self.client.post("/api/v2/query", json={"sql": sql}, headers=self.auth)

    def get(self, batch_id: str) -> Any:
        return self.client.get(f"/api/v2/query/{batch_id}", headers=self.auth)

    def all_batches(self, sql: str) -> list[dict[str, Any]]:
        r = self.post(sql)
        assert r.status_code == 200, r.text
        batches = [r.json()]
        while not batches[-1]["done"]:
            r = self.get(batches[-1]["nextBatchId"])
            assert r.status_code == 200, r.text
            batches.append(r.json())
        return batches

    def rows(self, sql: str) -> list[list[Any]]:
        return [row for b in self.all_batches(sql) for row in b["data"]]


@pytest.fixture
def dc_factory() -> Iterator[Any]:
    contexts: list[Any] = []

    def make(rows: int = 250, **config: Any) -> DC:
        ctx = in_process(EmulatorConfig(time_scale=0.0, **config))
        contexts.append(ctx)
        state, client = ctx.__enter__()
        seed_opportunity_source(state, rows, 10, seed=7)
        return DC(state, client)

    yield make
    for ctx in contexts:
        ctx.__exit__(None, None, None)


@pytest.fixture
def dc(dc_factory: Any) -> DC:
    return dc_factory()


def test_response_shape_and_metadata(dc: DC) -> None:
    r = dc.post(
        f'SELECT "ExternalId__c", "Amount__c", "CloseDate__c", "IsPrivate__c", "LastActivity__c" FROM {T} ORDER BY "ExternalId__c" LIMIT 3'
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["data", "startTime", "endTime", "rowCount", "queryId", "done", "metadata"]
    assert body["done"] is True and "nextBatchId" not in body
    assert body["rowCount"] == 3 == len(body["data"])
    assert body["startTime"].endswith("Z") and len(body["startTime"]) == 27
    assert body["metadata"] == {
        "ExternalId__c": {"type": "VARCHAR", "placeInOrder": 0, "typeCode": 12},
        "Amount__c": {"type": "DECIMAL", "placeInOrder": 1, "typeCode": 3},
        "CloseDate__c": {"type": "DATE", "placeInOrder": 2, "typeCode": 91},
        "IsPrivate__c": {"type": "BOOLEAN", "placeInOrder": 3, "typeCode": 16},
        "LastActivity__c": {"type": "TIMESTAMP", "placeInOrder": 4, "typeCode": 93},
    }
    first = body["data"][0]
    assert first[0] == "externalOpp0000001"
    assert isinstance(first[1], float) and isinstance(first[3], bool)
    assert len(first[2]) == 10


def test_star_expands_to_all_columns_in_order(dc: DC) -> None:
    body = dc.post(f"SELECT * FROM {T} LIMIT 1").json()
    places = sorted(body["metadata"].items(), key=lambda kv: kv[1]["placeInOrder"])
    assert [name for name, _ in places][:3] == ["ExternalId__c", "Name__c", "StageName__c"]
    assert [m["placeInOrder"] for _, m in places] == list(range(10))


def test_where_order_limit_offset_keyset(dc: DC) -> None:
    rows = dc.rows(
        f'SELECT "ExternalId__c" FROM {T} WHERE "ExternalId__c" > \'externalOpp0000100\' ORDER BY "ExternalId__c" LIMIT 5 OFFSET 2'
    )
    assert [r[0] for r in rows] == [f"externalOpp{n:07d}" for n in range(103, 108)]
    rows = dc.rows(
        f"SELECT \"ExternalId__c\" FROM {T} WHERE \"ExternalId__c\" IN ('externalOpp0000001', 'externalOpp0000009', 'nope') OR \"ExternalId__c\" = 'externalOpp0000002' ORDER BY 1"
    )
    assert [r[0] for r in rows] == [
        "externalOpp0000001",
        "externalOpp0000002",
        "externalOpp0000009",
    ]
    rows = dc.rows(
        f'SELECT "ExternalId__c" FROM {T} WHERE "Amount__c" >= 0 AND "Amount__c" <= 1e9 ORDER BY "ExternalId__c" DESC LIMIT 1'
    )
    assert rows == [["externalOpp0000250"]]


def test_is_null_and_aggregates(dc: DC) -> None:
    nulls = dc.rows(f'SELECT COUNT(*) FROM {T} WHERE "LastActivity__c" IS NULL')[0][0]
    not_nulls = dc.rows(f'SELECT COUNT(*) FROM {T} WHERE "LastActivity__c" IS NOT NULL')[0][0]
    assert nulls + not_nulls == 250 and nulls > 0
    body = dc.post(
        f'SELECT COUNT(*) AS n, MIN("ExternalId__c") AS lo, MAX("CloseDate__c") AS hi FROM {T}'
    ).json()
    assert body["data"] == [[250, "externalOpp0000001", body["data"][0][2]]]
    assert body["metadata"]["n"]["type"] == "BIGINT"
    assert body["metadata"]["lo"]["type"] == "VARCHAR"
    assert body["metadata"]["hi"]["type"] == "DATE"


def test_ntile_quantile_boundaries(dc: DC) -> None:
    sql = (
        'SELECT bucket, MIN("ExternalId__c") AS lo, MAX("ExternalId__c") AS hi, COUNT(*) AS n FROM '
        f'(SELECT "ExternalId__c", NTILE(4) OVER (ORDER BY "ExternalId__c") AS bucket FROM {T}) q '
        "GROUP BY bucket ORDER BY bucket"
    )
    rows = dc.rows(sql)
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert [r[3] for r in rows] == [63, 63, 62, 62]
    assert rows[0][2] == "externalOpp0000063"
    rn = dc.rows(
        f'SELECT "ExternalId__c", ROW_NUMBER() OVER (ORDER BY "ExternalId__c") FROM {T} LIMIT 2'
    )
    assert [r[1] for r in rn] == [1, 2]


def test_identifier_case_rules(dc: DC) -> None:
    assert dc.post("SELECT externalid__c FROM opportunity_source__dlm LIMIT 1").status_code == 200
    r = dc.post(f'SELECT "externalid__c" FROM {T}')
    assert r.status_code == 400 and "does not exist" in r.json()["message"]
    r = dc.post('SELECT 1 FROM "opportunity_source__dlm"')
    assert r.status_code == 400 and "not found" in r.json()["message"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELEC 1",
        f"SELECT nope FROM {T}",
        f"DELETE FROM {T}",
        "SELECT 1; SELECT 2",
        "SELECT * FROM Missing__dlm",
    ],
)
def test_sql_errors_are_400_objects_on_tenant_and_arrays_on_core(dc: DC, sql: str) -> None:
    r = dc.post(sql)
    assert r.status_code == 400
    body = r.json()
    assert isinstance(body, dict) and body["errorCode"] == "INVALID_QUERY" and body["message"]
    r = dc.client.post("/services/data/v59.0/ssot/queryv2", json={"sql": sql}, headers=dc.core)
    assert r.status_code == 400
    assert isinstance(r.json(), list) and r.json()[0]["errorCode"] == "INVALID_QUERY"


def test_missing_or_bad_body_is_400(dc: DC) -> None:
    for content in (b"", b"{", b'{"sql": ""}', b'["SELECT 1"]'):
        r = dc.client.post("/api/v2/query", content=content, headers=dc.auth)
        assert r.status_code == 400, content
        assert r.json()["errorCode"] == "JSON_PARSER_ERROR"


def test_batches_capped_by_rows_with_empty_last_batch(dc_factory: Any) -> None:
    dc = dc_factory(rows=250, query_batch_max_rows=50)
    batches = dc.all_batches(f'SELECT "ExternalId__c" FROM {T} ORDER BY "ExternalId__c"')
    assert [b["rowCount"] for b in batches] == [50, 50, 50, 50, 50, 0]
    assert [b["done"] for b in batches] == [False] * 5 + [True]
    assert batches[-1]["data"] == [] and "nextBatchId" not in batches[-1]
    assert len({b["queryId"] for b in batches}) == 1
    assert all(b["metadata"] == batches[0]["metadata"] for b in batches)
    keys = [r[0] for b in batches for r in b["data"]]
    assert keys == sorted(keys) and len(set(keys)) == 250


def test_batch_not_multiple_of_cap_ends_without_empty_batch(dc_factory: Any) -> None:
    dc = dc_factory(rows=120, query_batch_max_rows=50)
    batches = dc.all_batches(f"SELECT * FROM {T}")
    assert [b["rowCount"] for b in batches] == [50, 50, 20]


def test_batches_capped_by_bytes(dc_factory: Any) -> None:
    dc = dc_factory(rows=200, query_batch_max_bytes=2000)
    batches = dc.all_batches(f'SELECT "ExternalId__c", "Name__c" FROM {T} ORDER BY "ExternalId__c"')
    assert len(batches) > 3
    for b in batches:
        assert sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in b["data"]) <= 2000
    assert sum(b["rowCount"] for b in batches) == 200


def test_next_batch_ids_are_single_use_and_expire(dc_factory: Any) -> None:
    dc = dc_factory(rows=100, query_batch_max_rows=10)
    first = dc.post(f"SELECT * FROM {T}").json()
    batch_id = first["nextBatchId"]
    assert dc.get(batch_id).status_code == 200
    r = dc.get(batch_id)
    assert r.status_code == 404 and r.json()["errorCode"] == "NOT_FOUND"
    second = dc.post(f"SELECT * FROM {T}").json()
    dc.state.clock.advance(3601)
    assert dc.get(second["nextBatchId"]).status_code == 404


def test_connect_form_needs_core_token_and_tenant_needs_dc_token(dc: DC) -> None:
    sql = {"sql": f"SELECT COUNT(*) FROM {T}"}
    r = dc.client.post("/services/data/v59.0/ssot/queryv2", json=sql, headers=dc.core)
    assert r.status_code == 200 and r.json()["data"] == [[250]]
    assert r.headers["sforce-limit-info"].startswith("api-usage=")
    r = dc.client.post("/services/data/v59.0/ssot/queryv2", json=sql, headers=dc.auth)
    assert r.status_code == 401 and r.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    r = dc.client.post("/api/v2/query", json=sql, headers=dc.core)
    assert r.status_code == 401
    assert r.json() == {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    assert "sforce-limit-info" not in r.headers


def test_connect_form_paging(dc_factory: Any) -> None:
    dc = dc_factory(rows=30, query_batch_max_rows=20)
    r = dc.client.post(
        "/services/data/v59.0/ssot/queryv2", json={"sql": f"SELECT * FROM {T}"}, headers=dc.core
    )
    nxt = r.json()["nextBatchId"]
    r = dc.client.get(f"/services/data/v59.0/ssot/queryv2/{nxt}", headers=dc.core)
    assert r.json()["rowCount"] == 10 and r.json()["done"] is True


def test_hostile_values_roundtrip_exactly(dc_factory: Any) -> None:
    dc = dc_factory(rows=0)
    seed_opportunity_source(dc.state, 3000, 5, seed=3, hostile=True)
    stored = dict(
        dc.state.connect().execute(f'SELECT "ExternalId__c", "Description__c" FROM {T}').fetchall()
    )
    served = {r[0]: r[1] for r in dc.rows(f'SELECT "ExternalId__c", "Description__c" FROM {T}')}
    assert served == stored
    assert "" in served.values() and None in served.values()
    assert any(v and "\r\n" in v for v in served.values())
    assert any(v and len(v) == 32_000 for v in served.values())
