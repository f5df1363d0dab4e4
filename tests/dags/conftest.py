"""Airflow fixtures: a migrated metadata DB (once per session) and the project's DagBag."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def dag_bag():
    """Every DAG of the project's DAG folder, parsed the way the DAG processor does."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated Airflow metadata DB in the session's throw-away AIRFLOW_HOME."""
    from airflow.utils import db

    db.initdb()
