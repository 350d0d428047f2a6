"""The Astro image, requirements.txt and the local lock must describe the same Airflow."""

from __future__ import annotations

import re

from dag_loading import REPO_ROOT


def _pins(path: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO_ROOT / path).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_runtime_tag_matches_locked_airflow_minor() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    tag = re.search(
        r"^FROM astrocrpublic\.azurecr\.io/runtime:(\d+)\.(\d+)-(\d+)\s*$", dockerfile, re.M
    )
    assert tag, "Dockerfile must use FROM astrocrpublic.azurecr.io/runtime:<major>.<minor>-<build>"
    airflow = _pins("requirements-lock.txt")["apache-airflow"]
    assert airflow.split(".")[:2] == [tag.group(1), tag.group(2)]


def test_requirements_does_not_pin_airflow_itself() -> None:
    """The Runtime image owns Airflow; pinning it in requirements.txt would fight the image."""
    assert not {"apache-airflow", "apache-airflow-core"} & set(_pins("requirements.txt"))


def test_provider_pins_agree_with_the_lock() -> None:
    lock = _pins("requirements-lock.txt")
    required = _pins("requirements.txt")
    providers = {k: v for k, v in required.items() if k.startswith("apache-airflow-providers-")}
    assert {"apache-airflow-providers-salesforce", "apache-airflow-providers-standard"} <= set(
        providers
    )
    assert {k: lock.get(k) for k in providers} == providers
    major, minor = (int(x) for x in providers["apache-airflow-providers-standard"].split(".")[:2])
    assert (major, minor) >= (1, 21)


def test_lock_pins_the_airflow_version_the_project_targets() -> None:
    assert _pins("requirements-lock.txt")["apache-airflow"] == "3.3.2"
