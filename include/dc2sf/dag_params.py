"""The DAG version that made a run, and its Param defaults, read in the api-server.

Why: a run's ``conf`` holds only what the user typed; every other Param took its default from the
DAG version the run was created with, and a later edit of the DAG must not change what the
progress view says an older run used. Serialized DAGs are looked up once per version (cached).
"""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=32)
def serialized_dag(dag_id: str, dag_version_id: str | None) -> Any:
    """That DAG version (the latest one without a version id); None when it cannot be read."""
    from airflow.models.dag_version import DagVersion
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    try:
        with create_session() as session:
            serialized = None
            if dag_version_id:
                version = session.get(DagVersion, uuid.UUID(dag_version_id))
                serialized = version.serialized_dag if version else None
            return (
                serialized.dag
                if serialized is not None
                else SerializedDagModel.get_dag(dag_id, session=session)
            )
    except Exception:  # Param defaults are fallbacks: callers work without them
        log.warning("Could not read the serialized DAG %s", dag_id, exc_info=True)
        return None


def run_param_default(dag_run: Any, name: str) -> Any:
    """Param ``name``'s default in the DAG version that created ``dag_run`` (None if unknown)."""
    version = getattr(dag_run, "created_dag_version_id", None)
    dag = serialized_dag(dag_run.dag_id, str(version) if version else None)
    if dag is None or name not in dag.params:
        return None
    return dag.params[name]
