"""TLS verification is on by default; a connection can name a CA bundle; only an explicit
`verify: false` turns it off. The emulator serves HTTPS with a throwaway CA nobody trusts, so it
plays the part of a man in the middle for a connection that does not name that CA."""

from __future__ import annotations

import json
import shutil

import pytest
import requests

from include.dc2sf.hooks.datacloud import DataCloudHook
from include.dc2sf.hooks.retry import CallCounter
from include.dc2sf.hooks.salesforce import SalesforceBulk2Hook
from tests.conftest import connection_env
from tests.support.loading import FAST_RETRY

pytestmark = pytest.mark.integration


def _set_extras(monkeypatch: pytest.MonkeyPatch, emu, **extras: object) -> None:
    for name, value in connection_env(emu).items():
        conn = json.loads(value)
        conn["extra"].pop("ca_bundle", None)
        conn["extra"].update(extras)
        monkeypatch.setenv(name, json.dumps(conn))


def _hooks() -> tuple[SalesforceBulk2Hook, DataCloudHook, CallCounter]:
    counter = CallCounter()
    sf = SalesforceBulk2Hook(retry_policy=FAST_RETRY, counter=counter)
    return sf, DataCloudHook(salesforce_hook=sf, retry_policy=FAST_RETRY, counter=counter), counter


def test_without_a_ca_bundle_the_throwaway_ca_is_refused_and_not_retried(
    emulator_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = emulator_factory()
    _set_extras(monkeypatch, emu)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    sf, _, counter = _hooks()
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        sf.limits()
    assert counter.retries == 0  # a certificate problem does not heal by waiting
    assert emu.state.sessions.count().get("core", 0) == 0  # no credentials reached the server


def test_a_named_ca_bundle_is_used_even_when_the_environment_names_another(
    emulator_factory, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    emu = emulator_factory()
    _set_extras(monkeypatch, emu, ca_bundle=str(emu.ca_bundle))
    # Images often set REQUESTS_CA_BUNDLE (Astro's does); the connection's bundle must still win.
    other = tmp_path / "other-ca.pem"
    shutil.copyfile(requests.certs.where(), other)  # public CAs only: not the emulator's
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    sf, dc, counter = _hooks()
    assert sf.limits()["DailyApiRequests"]["Max"] > 0
    assert dc.scalar('SELECT COUNT(*) AS "n" FROM "Opportunity_Source__dlm"') == 0
    assert counter.retries == 0


def test_verify_false_is_explicit_and_logged(
    emulator_factory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    emu = emulator_factory()
    _set_extras(monkeypatch, emu, verify="false")
    sf, _, _ = _hooks()
    with caplog.at_level("WARNING"):
        assert sf.limits()["DailyApiRequests"]["Max"] > 0
    assert "TLS certificate verification is OFF" in caplog.text
