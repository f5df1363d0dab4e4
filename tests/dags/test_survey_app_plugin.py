"""The survey response app inside Airflow: the plugin mounts it at /cx-surveys of the real
api-server app (in process), it writes to the ``cx_warehouse`` connection's warehouse, and
stored feedback becomes an asset event on ``cx_feedback``, both in process and through the
REST API (``cx_tasks.surveys.asset_events``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fixtures.surveys import store_invitation
from sqlalchemy import select

from cx_tasks.surveys.asset_events import (
    FEEDBACK_ASSET_URI,
    AirflowApi,
    FeedbackAnnouncer,
    password_from_file,
)
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.links import answer_token
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import feedback

pytestmark = pytest.mark.airflow

SECRET = "plugin secret " * 3
FID = "survey:inv:e1:C1"


def _mounted_entry() -> dict:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    (entry,) = [a for a in apps if a.get("url_prefix") == "/cx-surveys"]
    return entry


def _feedback_events() -> list[dict]:
    """The ``extra`` of every asset event on cx_feedback, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return list(session.scalars(
            select(AssetEvent.extra).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == FEEDBACK_ASSET_URI).order_by(AssetEvent.id)))


def _declare_feedback_asset() -> None:
    """cx_feedback known and active in the metadata DB, as a DAG scheduled on it makes it."""
    from airflow.models.asset import AssetActive, AssetModel
    from airflow.utils.session import create_session

    from cx_airflow.assets import CX_FEEDBACK

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.uri == CX_FEEDBACK.uri,
                                                        AssetModel.name == CX_FEEDBACK.name))
        if asset is None:
            asset = AssetModel(name=CX_FEEDBACK.name, uri=CX_FEEDBACK.uri)
            session.add(asset)
            session.flush()
        if session.scalar(select(AssetActive).where(AssetActive.uri == asset.uri)) is None:
            session.add(AssetActive.for_asset(asset))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("plugin-warehouse") / "warehouse.db"
    url = f"sqlite:///{path}"
    migrate(engine_for(url))
    store_invitation(url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_CX_WAREHOUSE",
                     json.dumps({"conn_type": "sqlite", "host": str(path)}))
        patch.setenv("CX_SURVEY_SECRET", SECRET)
        yield url
    engine_for(url).dispose()


@pytest.fixture(scope="module")
def api_server(airflow_db, warehouse: str) -> TestClient:
    """Airflow's own api-server app, in process, with the project's plugins."""
    from airflow.api_fastapi.app import create_app

    _declare_feedback_asset()
    _mounted_entry()["app"].app = None     # built on first request, under this module's env
    return TestClient(create_app())


def test_the_plugin_mounts_the_response_app_and_names_the_feedback_asset() -> None:
    from cx_airflow.assets import CX_FEEDBACK

    entry = _mounted_entry()
    assert (entry["name"], type(entry["app"]).__name__) == ("CX Loop survey responses",
                                                            "LazySurveyApp")
    assert CX_FEEDBACK.uri == FEEDBACK_ASSET_URI


def test_a_click_and_a_form_through_the_api_server_store_and_announce(
        api_server: TestClient, warehouse: str) -> None:
    catalogue = survey_catalogue()
    token = answer_token("inv:e1:C1", "C1", catalogue.for_event("delivery_completed"),
                         catalogue, datetime.now(UTC), SECRET.encode())
    before = len(_feedback_events())
    page = api_server.get(f"/cx-surveys/r/{token}?score=5")
    assert page.status_code == 200
    assert f'action="/cx-surveys/r/{token}"' in page.text
    thanks = api_server.post(f"/cx-surveys/r/{token}", data={"q_ces": "2", "comment": "ok"})
    assert (thanks.status_code, "Thank you for your answers" in thanks.text) == (200, True)
    with engine_for(warehouse).connect() as conn:
        assert conn.execute(select(feedback.c.feedback_id, feedback.c.scores,
                                   feedback.c.text)).all() == [
            (FID, '{"ces": 2, "csat": 5}', "ok")]
    assert _feedback_events()[before:] == [{"feedback_ids": [FID]}, {"feedback_ids": [FID]}]


def test_a_forged_link_through_the_api_server_gets_the_error_page(api_server: TestClient,
                                                                  warehouse: str) -> None:
    page = api_server.get("/cx-surveys/r/bm90.aGluZw?score=5")
    assert (page.status_code, 'data-reason="forged"' in page.text) == (403, True)


def test_the_rest_announcer_posts_an_asset_event_on_cx_feedback(api_server: TestClient) -> None:
    passwords = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    api = AirflowApi("http://testserver", "admin", password_from_file(passwords, "admin"))
    before = len(_feedback_events())
    assert FeedbackAnnouncer(api, client=api_server)(["survey:rest-1", "survey:rest-2"])
    assert _feedback_events()[before:] == [           # Airflow marks events posted by REST
        {"feedback_ids": ["survey:rest-1", "survey:rest-2"], "from_rest_api": True}]
    wrong = AirflowApi("http://testserver", "admin", "not the password")
    assert FeedbackAnnouncer(wrong, client=api_server)(["survey:rest-3"]) is False
    assert len(_feedback_events()) == before + 1


class _Recorder:
    """Stands in for the api-server's access logger: keeps each record's fields."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def info(self, event: str, **fields: object) -> None:
        self.records.append({"event": event, **fields})


def test_the_api_servers_access_log_holds_no_token(api_server: TestClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.api_fastapi.common import http_access_log

    recorder = _Recorder()
    monkeypatch.setattr(http_access_log, "logger", recorder)
    catalogue = survey_catalogue()
    token = answer_token("inv:e1:C1", "C1", catalogue.for_event("delivery_completed"),
                         catalogue, datetime.now(UTC), SECRET.encode())
    assert api_server.get(f"/cx-surveys/r/{token}?score=4").status_code == 200
    assert api_server.get("/cx-surveys/r/bm90.aGluZw?score=4").status_code == 403
    logged = [(r["path"], r["query"], r["status_code"]) for r in recorder.records]
    assert logged == [("/cx-surveys/r/redacted", "score=4", 200),
                      ("/cx-surveys/r/redacted", "score=4", 403)]
    assert token.split(".")[0] not in repr(recorder.records)
