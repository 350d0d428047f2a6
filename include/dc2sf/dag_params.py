"""Param defaults of the DAG version that made a run, read in the api-server.

Why: a run's ``conf`` holds only what the user typed; every other Param took its default from the
DAG version the run was created with, and a later edit of the DAG must not change what the
progress view says an older run used. Serialized DAGs are looked up once per version (cached).
"""

from __future__ import annotations

import functools
import uuid
from typing import Any


@functools.lru_cache(maxsize=128)
def param_default(dag_id: str, dag_version_id: str | None, name: str) -> Any:
    """The default of Param ``name`` in that DAG version (the latest one without a version);
    None when the DAG or the Param is unknown."""
    from airflow.models.dag_version import DagVersion
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        serialized = None
        if dag_version_id:
            version = session.get(DagVersion, uuid.UUID(dag_version_id))
            serialized = version.serialized_dag if version else None
        dag = (
            serialized.dag
            if serialized is not None
            else SerializedDagModel.get_dag(dag_id, session=session)
        )
        if dag is None or name not in dag.params:
            return None
        return dag.params[name]


def run_param_default(dag_run: Any, name: str) -> Any:
    """:func:`param_default` for the version that created ``dag_run``."""
    version = getattr(dag_run, "created_dag_version_id", None)
    return param_default(dag_run.dag_id, str(version) if version else None, name)
