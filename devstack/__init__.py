"""Local stacks for development, tests and the demo: a real Airflow (``AirflowStack``), its REST
client (``AirflowClient``) and the ``airflow_settings.yaml`` loader. Not shipped to Astro: nothing
in ``dags/``, ``include/`` or ``plugins/`` imports it."""

from __future__ import annotations
