"""The README's Params tables, generated from the DAGs' own Params so the two cannot drift.

Each DAG's table sits in README.md between two markers::

    <!-- params-table datacloud_to_salesforce -->
    ...
    <!-- /params-table datacloud_to_salesforce -->

and is rendered from what the DAG declares: section, name, default, allowed values (from the JSON
schema) and meaning (the Param's description, the same text the Trigger form shows as help).
`tests/dags/test_params.py` fails when the README differs; `make params-doc` rewrites it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
DAG_IDS = ("datacloud_to_salesforce", "cleanup_test_load")

_TYPE_WORDS = {
    "integer": "integer",
    "number": "number",
    "string": "text",
    "boolean": "`true` / `false`",
    "object": "JSON object",
    "array": "list of text",
}


def _markers(dag_id: str) -> tuple[str, str]:
    return f"<!-- params-table {dag_id} -->", f"<!-- /params-table {dag_id} -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return f"`{value}`"
    return "below"


def _bounds(schema: Mapping[str, Any]) -> str:
    limits: dict[str, Any] = {}
    for part in schema.get("allOf", []):
        limits.update(part)
    low, high = limits.get("minimum"), limits.get("maximum")
    above = limits.get("exclusiveMinimum")
    if low is not None and high is not None:
        return f" {low:,}–{high:,}"
    parts = []
    if low is not None:
        parts.append(f"≥ {low:,}")
    if above is not None:
        parts.append(f"> {above:,}")
    if high is not None:
        parts.append(f"≤ {high:,}")
    return " " + ", ".join(parts) if parts else ""


def _values(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{choice}`" for choice in schema["enum"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    words = [_TYPE_WORDS.get(t, t) + _bounds(schema) for t in types if t != "null"]
    text = " or ".join(words)
    return f"{text}, or empty" if "null" in types else text


def render(dag_id: str, params: Iterable[tuple[str, Any]]) -> str:
    """The README block for one DAG: a table per Trigger-form section, then JSON defaults."""
    lines: list[str] = []
    section: str | None = None
    structured: list[tuple[str, Any]] = []
    for name, param in params:
        schema = dict(param.schema)
        if schema.get("section") != section:
            section = schema.get("section")
            lines += ["", f"**{section}**", "", "| param | default | values | meaning |"]
            lines.append("|---|---|---|---|")
        if isinstance(param.value, dict | list):
            structured.append((name, param.value))
        lines.append(
            f"| `{name}` | {_default(param.value)} | {_values(schema)} | "
            f"{_cell(param.description or '')} |"
        )
    for name, value in structured:
        body = json.dumps(value, indent=2)
        lines += [
            "",
            f"<details><summary>Default <code>{name}</code></summary>",
            "",
            "```json",
            body,
            "```",
            "",
            "</details>",
        ]
    start, end = _markers(dag_id)
    return "\n".join([start, *lines, "", end])


def dag_params(dag_ids: Iterable[str] = DAG_IDS) -> dict[str, list[tuple[str, Any]]]:
    """Each DAG's Params (name, Param) in declaration order, as the DAG folder defines them."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"the DAG folder does not import: {bag.import_errors}")
    return {
        dag_id: [(k, bag.get_dag(dag_id).params.get_param(k)) for k in bag.get_dag(dag_id).params]
        for dag_id in dag_ids
    }


def _block_pattern(dag_id: str) -> re.Pattern[str]:
    start, end = _markers(dag_id)
    return re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)


def stale(readme: str, params: Mapping[str, list[tuple[str, Any]]]) -> list[str]:
    """DAG ids whose README block is missing or differs from what their Params render."""
    problems = []
    for dag_id, items in params.items():
        found = _block_pattern(dag_id).search(readme)
        if found is None or found.group(0) != render(dag_id, items):
            problems.append(dag_id)
    return problems


def rewrite(readme: str, params: Mapping[str, list[tuple[str, Any]]]) -> str:
    """The README with every DAG's block replaced by its fresh rendering (blocks must exist)."""
    for dag_id, items in params.items():
        pattern = _block_pattern(dag_id)
        if not pattern.search(readme):
            raise ValueError(f"README.md has no {_markers(dag_id)[0]} block")
        readme = pattern.sub(lambda _m, d=dag_id, i=items: render(d, i), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.dags.params_table [--check]`: rewrite README.md (or only report)."""
    args = sys.argv[1:] if argv is None else argv
    params = dag_params()
    text = README.read_text()
    if "--check" in args:
        problems = stale(text, params)
        print("README Params tables are stale: " + ", ".join(problems) if problems else "ok")
        return 1 if problems else 0
    README.write_text(rewrite(text, params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
