"""Bulk API 2.0 ingest over HTTP (in-process): every transition, status code, error body and
CSV layout of reference §3."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.bulk2.config import BulkProcessingConfig
from emulator.bulk2.models import BulkService
from emulator.config import EmulatorConfig
from emulator.org.seed import create_accounts
from emulator.state import EmulatorState
from emulator.testing import core_login, in_process

V = "/services/data/v59.0"
HEADER = "ExternalId__c,Name,StageName,CloseDate,Amount,Account.ExternalId__c"


@dataclass
class Api:
    state: EmulatorState
    client: TestClient
    headers: dict[str, str]

    @property
    def bulk(self) -> BulkService:
        return self.state.services["bulk2"]  # type: ignore[no-any-return]

    def create(self, **body: Any) -> Any:
        return self.client.post(f"{V}/jobs/ingest", json=body, headers=self.headers)

    def put(self, job_id: str, data: str | bytes, content_type: str = "text/csv") -> Any:
        raw = data.encode() if isinstance(data, str) else data
        return self.client.put(
            f"{V}/jobs/ingest/{job_id}/batches",
            content=raw,
            headers={**self.headers, "Content-Type": content_type},
        )

    def patch(self, job_id: str, state: str) -> Any:
        return self.client.patch(
            f"{V}/jobs/ingest/{job_id}", json={"state": state}, headers=self.headers
        )

    def info(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"{V}/jobs/ingest/{job_id}", headers=self.headers)
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(f"{V}/jobs/ingest/{path}", headers={**self.headers, **headers})

    def run(self, csv: str, **body: Any) -> str:
        """Create, upload, close and wait; returns the job id."""
        job_id = self.create(**body).json()["id"]
        assert self.put(job_id, csv).status_code == 201
        assert self.patch(job_id, "UploadComplete").status_code == 200
        self.bulk.wait(job_id, 10)
        return str(job_id)


def make_api(config: EmulatorConfig | None = None) -> Iterator[Api]:
    with in_process(config or EmulatorConfig(time_scale=0.0)) as (state, client):
        create_accounts(state, 5, seed=3)
        token = core_login(client)
        yield Api(state, client, {"Authorization": f"Bearer {token}"})


@pytest.fixture
def api() -> Iterator[Api]:
    yield from make_api()


UPSERT = {"object": "Opportunity", "operation": "upsert", "externalIdFieldName": "ExternalId__c"}


def opp(key: str, account: int = 1, name: str = "Deal", close: str = "2026-03-01") -> str:
    return f"{key},{name},Prospecting,{close},100.5,ACC-{account:08d}"


# ------------------------------------------------------------------ create
def test_create_returns_open_job_with_documented_fields(api: Api) -> None:
    response = api.create(**UPSERT)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
        "externalIdFieldName", "concurrencyMode", "contentType", "apiVersion", "contentUrl",
        "lineEnding", "columnDelimiter",
    ]  # fmt: skip
    assert body["id"].startswith("750") and len(body["id"]) == 18
    assert body["state"] == "Open" and body["concurrencyMode"] == "Parallel"
    assert body["apiVersion"] == 59.0 and isinstance(body["apiVersion"], float)
    assert body["contentUrl"] == f"services/data/v59.0/jobs/ingest/{body['id']}/batches"
    import re

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", body["createdDate"])


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"object": "Nope", "operation": "insert"}, "INVALIDJOB", "InvalidJob : Unable to find object: Nope"),
        ({"object": "Opportunity", "operation": "merge"}, "API_ERROR", "Invalid value: 'merge' supplied for property: 'operation'"),
        ({**UPSERT, "externalIdFieldName": "Name"}, "INVALIDJOB", "InvalidJob : Field name provided, Name does not match an External ID for Opportunity"),
        ({"object": "Opportunity", "operation": "upsert"}, "INVALIDJOB", "InvalidJob : External ID was blank for Opportunity. An External ID must be specified for upsert."),
        ({"object": "Opportunity", "operation": "insert", "columnDelimiter": "STAR"}, "API_ERROR", "Invalid value: 'STAR' supplied for property: 'columnDelimiter'"),
    ],
)  # fmt: skip
def test_create_errors(api: Api, body: dict[str, Any], code: str, message: str) -> None:
    response = api.create(**body)
    assert response.status_code == 400
    assert response.json() == [{"message": message, "errorCode": code}]


def test_unauthenticated_call_is_401(api: Api) -> None:
    response = api.client.post(f"{V}/jobs/ingest", json=UPSERT)
    assert response.status_code == 401
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


# ------------------------------------------------------- upload and states
def test_second_put_fails_as_documented(api: Api) -> None:
    job_id = api.create(**UPSERT).json()["id"]
    first = api.put(job_id, f"{HEADER}\n{opp('A')}\n")
    assert first.status_code == 201 and first.content == b""
    second = api.put(job_id, f"{HEADER}\n{opp('B')}\n")
    assert second.status_code == 400
    assert second.json() == [
        {
            "message": f"Found multipe contents for job: <{job_id[:15]}>, please 'Close' / 'Abort'"
            " / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' "
            "once on a given Job.",
            "errorCode": "BULK_API_ERROR",
        }
    ]


def test_counters_absent_before_upload_and_zero_after(api: Api) -> None:
    job_id = api.create(**UPSERT).json()["id"]
    info = api.info(job_id)
    assert "numberRecordsProcessed" not in info and info["jobType"] == "V2Ingest"
    api.put(job_id, f"{HEADER}\n{opp('A')}\n")
    info = api.info(job_id)
    assert info["numberRecordsProcessed"] == 0 and info["numberRecordsFailed"] == 0
    assert info["contentUrl"].endswith("/batches")


def test_upload_complete_needs_data_and_open_state(api: Api) -> None:
    job_id = api.create(**UPSERT).json()["id"]
    response = api.patch(job_id, "UploadComplete")
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    api.put(job_id, f"{HEADER}\n{opp('A')}\n")
    closed = api.patch(job_id, "UploadComplete")
    assert closed.status_code == 200
    assert closed.json()["state"] == "UploadComplete"
    assert "contentUrl" not in closed.json() and "jobType" not in closed.json()
    api.bulk.wait(job_id, 5)
    assert api.info(job_id)["state"] == "JobComplete"
    again = api.patch(job_id, "UploadComplete")
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    abort = api.patch(job_id, "Aborted")
    assert abort.status_code == 400 and abort.json()[0]["errorCode"] == "INVALIDJOBSTATE"


@pytest.mark.parametrize("wanted", ["JobComplete", "InProgress", "Failed"])
def test_client_cannot_set_server_states(api: Api, wanted: str) -> None:
    job_id = api.create(**UPSERT).json()["id"]
    response = api.patch(job_id, wanted)
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_abort_open_job_and_put_after_abort(api: Api) -> None:
    job_id = api.create(**UPSERT).json()["id"]
    response = api.patch(job_id, "Aborted")
    assert response.status_code == 200 and response.json()["state"] == "Aborted"
    assert api.put(job_id, f"{HEADER}\n{opp('A')}\n").status_code == 400
    assert api.get(f"{job_id}/unprocessedrecords/").text == ""  # no data was ever uploaded


def test_unknown_job_is_404(api: Api) -> None:
    response = api.get("750EM0000000999AAA")
    assert response.status_code == 404
    assert response.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_delete_is_204_with_empty_body_then_404(api: Api) -> None:
    open_job = api.create(**UPSERT).json()["id"]
    refused = api.client.delete(f"{V}/jobs/ingest/{open_job}", headers=api.headers)
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    job_id = api.run(f"{HEADER}\n{opp('A')}\n", **UPSERT)
    response = api.client.delete(f"{V}/jobs/ingest/{job_id}", headers=api.headers)
    assert response.status_code == 204 and response.content == b""
    assert api.get(job_id).status_code == 404


def test_list_jobs_pages_with_next_records_url() -> None:
    config = EmulatorConfig(time_scale=0.0, bulk=BulkProcessingConfig(list_page_size=2))
    for api in make_api(config):
        ids = [api.create(**UPSERT).json()["id"] for _ in range(3)]
        first = api.client.get(f"{V}/jobs/ingest", headers=api.headers).json()
        assert first["done"] is False and [r["id"] for r in first["records"]] == ids[:2]
        assert first["records"][0]["jobType"] == "V2Ingest"
        second = api.client.get(first["nextRecordsUrl"], headers=api.headers).json()
        assert second["done"] is True and second["nextRecordsUrl"] is None
        assert [r["id"] for r in second["records"]] == ids[2:]
        classic = api.client.get(f"{V}/jobs/ingest?jobType=Classic", headers=api.headers).json()
        assert classic["records"] == []


# ------------------------------------------------------------------ results
def test_result_layouts(api: Api) -> None:
    csv = f"{HEADER}\n{opp('A', 1)}\n{opp('B', 2)}\nC,,Prospecting,2026-03-01,1,ACC-00000001\n"
    job_id = api.run(csv, **UPSERT)
    info = api.info(job_id)
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 3 and info["numberRecordsFailed"] == 1
    ok = api.get(f"{job_id}/successfulResults/")
    assert ok.headers["content-type"].startswith("text/csv")
    lines = ok.text.splitlines()
    assert lines[0] == f'"sf__Id","sf__Created",{HEADER}'
    assert lines[1].startswith('"006') and '"true","A","Deal","Prospecting"' in lines[1]
    failed = api.get(f"{job_id}/failedResults/").text.splitlines()
    assert failed[0] == f'"sf__Id","sf__Error",{HEADER}'
    assert failed[1] == (
        '"","REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",'
        '"C","","Prospecting","2026-03-01","1","ACC-00000001"'
    )
    # An upsert of the same key updates: sf__Created false.
    again = api.run(f"{HEADER}\n{opp('A', 1, name='Renamed')}\n", **UPSERT)
    assert '"false","A","Renamed"' in api.get(f"{again}/successfulResults/").text
    # Both spellings of unprocessed records; nothing unprocessed in a complete job.
    assert api.get(f"{job_id}/unprocessedrecords/").text == f"{HEADER}\n"
    assert api.get(f"{job_id}/unprocessedRecords/").text == f"{HEADER}\n"


def test_results_before_the_end_are_refused(api: Api) -> None:
    job_id = api.create(**UPSERT).json()["id"]
    response = api.get(f"{job_id}/successfulResults/")
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_results_gzip_on_request(api: Api) -> None:
    job_id = api.run(f"{HEADER}\n{opp('A')}\n", **UPSERT)
    raw = api.client.get(
        f"{V}/jobs/ingest/{job_id}/successfulResults/",
        headers={**api.headers, "Accept-Encoding": "gzip"},
    )
    assert raw.headers["content-encoding"] == "gzip"
    assert '"sf__Id"' in raw.text  # httpx decoded it
    assert gzip.compress(b"x")  # sanity: gzip available


def test_bad_header_fails_job_with_everything_unprocessed(api: Api) -> None:
    csv = "ExternalId__c,Name,ContactId__c\nA,Deal,x\nB,Deal,y\n"
    job_id = api.run(csv, **UPSERT)
    info = api.info(job_id)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : ContactId__c"
    assert info["numberRecordsProcessed"] == 0
    assert api.get(f"{job_id}/unprocessedrecords/").text.splitlines() == [
        "ExternalId__c,Name,ContactId__c",
        '"A","Deal","x"',
        '"B","Deal","y"',
    ]


def test_line_ending_must_match(api: Api) -> None:
    job_id = api.run(f"{HEADER}\r\n{opp('A')}\r\n", **UPSERT)
    info = api.info(job_id)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF"
    )
    ok = api.run(f"{HEADER}\r\n{opp('B')}\r\n", **UPSERT, lineEnding="CRLF")
    assert api.info(ok)["numberRecordsFailed"] == 0 and api.info(ok)["state"] == "JobComplete"


@pytest.mark.parametrize(("name", "char"), [("TAB", "\t"), ("PIPE", "|"), ("SEMICOLON", ";"), ("CARET", "^"), ("BACKQUOTE", "`")])  # fmt: skip
def test_column_delimiters(api: Api, name: str, char: str) -> None:
    csv = f"{HEADER}\n{opp('A')}\n".replace(",", char)
    job_id = api.run(csv, **UPSERT, columnDelimiter=name)
    info = api.info(job_id)
    assert (info["state"], info["numberRecordsFailed"], info["columnDelimiter"]) == (
        "JobComplete",
        0,
        name,
    )


def test_quoting_and_embedded_newlines(api: Api) -> None:
    name = 'He said ""hi"", then, left\nfor good'
    csv = f'{HEADER}\nQ,"{name}",Prospecting,2026-03-01,1,ACC-00000001\n'
    job_id = api.run(csv, **UPSERT)
    assert api.info(job_id)["numberRecordsFailed"] == 0
    stored = (
        api.state.connect()
        .execute("SELECT Name FROM sobject_opportunity WHERE ExternalId__c = 'Q'")
        .fetchone()
    )
    assert stored == ('He said "hi", then, left\nfor good',)
    assert f'"{name}"' in api.get(f"{job_id}/successfulResults/").text


def test_upload_cap_and_content_type() -> None:
    config = EmulatorConfig(time_scale=0.0, bulk=BulkProcessingConfig(max_upload_bytes=100))
    for api in make_api(config):
        job_id = api.create(**UPSERT).json()["id"]
        big = api.put(job_id, f"{HEADER}\n" + f"{opp('A')}\n" * 10)
        assert big.status_code == 400 and big.json()[0]["errorCode"] == "ClientInputError"
        wrong = api.put(job_id, "{}", content_type="application/json")
        assert wrong.status_code == 415


# --------------------------------------------------------------- operations
def test_insert_update_delete_hard_delete(api: Api) -> None:
    insert = {"object": "Opportunity", "operation": "insert"}
    job_id = api.run(
        "Name,StageName,CloseDate,AccountId,Description\n"
        "One,Prospecting,2026-01-01,001EM0000000001YAA,text\n"
        "Two,Prospecting,2026-01-01,001EM0000000002YAA,text\n",
        **insert,
    )
    ids = [
        line.split(",")[0].strip('"')
        for line in api.get(f"{job_id}/successfulResults/").text.splitlines()[1:]
    ]
    assert len(ids) == 2
    # update: empty = unchanged, #N/A = null, missing id = error
    update = api.run(
        f"Id,Description,Amount\n{ids[0]},#N/A,\n{ids[1]},,7\n,x,1\n",
        object="Opportunity",
        operation="update",
    )
    rows = dict(api.state.connect().execute(
        "SELECT Id, Description FROM sobject_opportunity"
    ).fetchall())  # fmt: skip
    assert rows == {ids[0]: None, ids[1]: "text"}
    failed = api.get(f"{update}/failedResults/").text.splitlines()
    assert failed[1] == '"","MISSING_ARGUMENT:Id not specified in an update call:--","","x","1"'
    # required field set to null on update
    nulled = api.run(f"Id,StageName\n{ids[0]},#N/A\n", object="Opportunity", operation="update")
    assert (
        "REQUIRED_FIELD_MISSING:Required fields are missing: [StageName]:StageName --"
        in api.get(f"{nulled}/failedResults/").text
    )
    # soft delete: gone from the org, queryAll still sees it; a second delete: entity is deleted
    api.run(f"Id\n{ids[0]}\n", object="Opportunity", operation="delete")
    assert api.state.connect().execute(
        "SELECT IsDeleted FROM sobject_opportunity WHERE Id = ?", (ids[0],)
    ).fetchone() == (1,)
    again = api.run(f"Id\n{ids[0]}\n", object="Opportunity", operation="delete")
    assert (
        f'"{ids[0]}","ENTITY_IS_DELETED:entity is deleted:--"'
        in api.get(f"{again}/failedResults/").text
    )
    # hardDelete removes rows
    api.run(f"Id\n{ids[0]}\n{ids[1]}\n", object="Opportunity", operation="hardDelete")
    assert api.state.connect().execute("SELECT COUNT(*) FROM sobject_opportunity").fetchone() == (
        0,
    )


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (opp("A", 99), "INVALID_FIELD:Foreign key external ID: ACC-00000099 not found for field ExternalId__c in entity Account:--"),
        (opp("A", close="2026-02-30"), "INVALID_TYPE_ON_FIELD_IN_RECORD:Close Date: value not of required type: 2026-02-30:CloseDate --"),
        (opp("A", close="2026-02-01T00:00:00Z"), "INVALID_TYPE_ON_FIELD_IN_RECORD:Close Date: value not of required type: 2026-02-01T00:00:00Z:CloseDate --"),
        ("A,Deal,Prospecting,2026-03-01,12abc,ACC-00000001", "INVALID_TYPE_ON_FIELD_IN_RECORD:Amount: value not of required type: 12abc:Amount --"),
        ("A,Deal,Prospecting,2026-03-01,1e20,ACC-00000001", "NUMBER_OUTSIDE_VALID_RANGE:Amount: value outside of valid range on numeric field: 1e20:Amount --"),
        (f"A,{'x' * 121},Prospecting,2026-03-01,1,ACC-00000001", f"STRING_TOO_LONG:Name: data value too large: {'x' * 121} (max length=120):Name --"),
        ("A,,,,1,ACC-00000001", "REQUIRED_FIELD_MISSING:Required fields are missing: [Name, StageName, CloseDate]:Name,StageName,CloseDate --"),
        ("#N/A,Deal,Prospecting,2026-03-01,1,ACC-00000001", "MISSING_ARGUMENT:ExternalId__c not specified:--"),
    ],
)  # fmt: skip
def test_record_errors(api: Api, row: str, error: str) -> None:
    job_id = api.run(f"{HEADER}\n{row}\n", **UPSERT)
    failed = api.get(f"{job_id}/failedResults/").text.splitlines()
    assert len(failed) == 2
    assert failed[1].split('","')[1] == error


def test_duplicate_key_in_one_job_fails_every_occurrence(api: Api) -> None:
    job_id = api.run(f"{HEADER}\n{opp('A')}\n{opp('B')}\n{opp('A', 2)}\n", **UPSERT)
    failed = api.get(f"{job_id}/failedResults/").text.splitlines()[1:]
    assert [line.split('","')[1] for line in failed] == [
        "DUPLICATE_VALUE:Duplicate external id specified: A"
    ] * 2
    assert api.info(job_id)["numberRecordsFailed"] == 2


def test_insert_of_taken_external_id_names_the_holder(api: Api) -> None:
    first = api.run(f"{HEADER}\n{opp('A')}\n", **UPSERT)
    holder = api.get(f"{first}/successfulResults/").text.splitlines()[1].split(",")[0].strip('"')
    insert = {"object": "Opportunity", "operation": "insert"}
    job_id = api.run(f"{HEADER}\n{opp('A')}\n", **insert)
    assert (
        f"DUPLICATE_VALUE:duplicate value found: ExternalId__c duplicates value on record with id: {holder}:--"
        in api.get(f"{job_id}/failedResults/").text
    )


def test_missing_parent_by_id_is_invalid_cross_reference(api: Api) -> None:
    insert = {"object": "Opportunity", "operation": "insert"}
    job_id = api.run(
        "Name,StageName,CloseDate,AccountId\nX,Prospecting,2026-01-01,001EM0000000099YAA\n"
        "Y,Prospecting,2026-01-01,xyz\n",
        **insert,
    )
    errors = [
        line.split('","')[1] for line in api.get(f"{job_id}/failedResults/").text.splitlines()[1:]
    ]
    assert errors == [
        "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--",
        "MALFORMED_ID:Account ID: id value of incorrect type: xyz:AccountId --",
    ]


def test_fail_job_midway_leaves_the_rest_unprocessed(api: Api) -> None:
    rows = "\n".join(opp(f"K{i:04d}") for i in range(1000))
    job_id = api.create(**UPSERT).json()["id"]
    api.put(job_id, f"{HEADER}\n{rows}\n")
    api.bulk.fail_job_midway(job_id, after_records=400)
    api.patch(job_id, "UploadComplete")
    api.bulk.wait(job_id, 10)
    info = api.info(job_id)
    assert info["state"] == "Failed" and info["numberRecordsProcessed"] == 400
    assert "errorMessage" in info
    assert len(api.get(f"{job_id}/unprocessedrecords/").text.splitlines()) == 1 + 600


def test_daily_record_quota_fails_the_job_midway() -> None:
    config = EmulatorConfig(time_scale=0.0, bulk_daily_record_max=300)
    for api in make_api(config):
        rows = "\n".join(opp(f"K{i:04d}") for i in range(500))
        job_id = api.run(f"{HEADER}\n{rows}\n", **UPSERT)
        info = api.info(job_id)
        assert info["state"] == "Failed" and info["errorMessage"].startswith("ExceededQuota")
        assert info["numberRecordsProcessed"] == 200
        assert api.state.usage.bulk_records.value() == 300


def test_batches_are_counted_against_the_daily_allocation() -> None:
    config = EmulatorConfig(
        time_scale=0.0, bulk=BulkProcessingConfig(internal_batch_size=200), bulk_daily_batch_max=2
    )
    for api in make_api(config):
        rows = "\n".join(opp(f"K{i:04d}") for i in range(500))  # 3 internal batches
        job_id = api.run(f"{HEADER}\n{rows}\n", **UPSERT)
        info = api.info(job_id)
        assert info["state"] == "Failed"
        assert info["errorMessage"].startswith("ExceededQuota")
        assert api.state.usage.bulk_batches.value() == 2
        limits = api.client.get(f"{V}/limits", headers=api.headers).json()
        assert limits["DailyBulkApiBatches"] == {"Max": 2, "Remaining": 0}
