"""The CX view inside Airflow: the plugin mounts it at /cx of the real api-server app (in
process) with a "CX" navigation entry; an anonymous request is refused, a request signed in
with Airflow's own token (header or the UI's session cookie) is served."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fixtures.feedback_world import seed_crm

from cx_tasks.monitor.history import kpi_inputs, publish_kpis
from cx_tasks.monitor.past_answers import COLUMNS, import_files
from cx_tasks.monitor.rules import KpiRules
from cx_tasks.surveys.asset_events import password_from_file
from cx_tasks.warehouse.db import engine_for, migrate

pytestmark = pytest.mark.airflow


def _entry() -> dict:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    (entry,) = [a for a in apps if a.get("url_prefix") == "/cx"]
    return entry


def _seed_cases_and_initiatives(url: str) -> None:
    """An open case opened 2026-03-01 10:00 (both clocks long run out), a closed one, and an
    approved initiative whose first milestone was planned for 2026-03-09, unreached."""
    from cx_tasks.warehouse.schema import (
        cases,
        feedback,
        finding_states,
        findings,
        initiative_history,
        initiative_milestones,
        initiatives,
    )

    def case(name: str, status: str, closed: datetime | None) -> dict:
        return {"case_id": f"case:{name}", "feedback_id": name, "client_id": "K1",
                "contact_id": "C1", "trigger": "detractor", "owner": "logistics",
                "owner_person": "Petrov", "owner_email": "l@example.com", "status": status,
                "opened_at": datetime(2026, 3, 1, 10), "acknowledged_at": closed,
                "closed_at": closed, "note": "fixed" if closed else None}

    with engine_for(url).begin() as conn:
        conn.execute(feedback.insert(), [{
            "feedback_id": name, "source": "survey", "channel": "email", "client_id": "K1",
            "contact_id": "C1", "role": None, "text": text, "scores": "{}", "ref_id": None,
            "occurred_at": datetime(2026, 3, 1, 10), "recorded_at": datetime(2026, 3, 1, 10)}
            for name, text in (("fb1", "<script>alert(1)</script> late again"),
                               ("fb2", "fine"))])
        conn.execute(cases.insert(), [case("fb1", "open", None),
                                      case("fb2", "closed", datetime(2026, 3, 2, 10))])
        conn.execute(initiatives.insert(), {
            "initiative_id": "I1", "title": "Documents <on time>", "process_class": "documents",
            "segment": "metals", "owner": "documents", "owner_person": None,
            "status": "approved", "proposed_on": date(2026, 3, 1), "evidence": "{}",
            "expected_effect": "{}"})
        conn.execute(initiative_milestones.insert(), {
            "initiative_id": "I1", "milestone_id": "root_cause", "position": 0,
            "title_en": "Root cause found", "title_ru": "Найдена причина",
            "planned_on": date(2026, 3, 9), "reached_on": None, "client_visible": False})
        conn.execute(initiative_history.insert(), {
            "initiative_id": "I1", "changed_at": datetime(2026, 3, 2, 12), "status": "approved",
            "previous": "proposed", "actor": "lead", "channel": "cli", "note": None})
        conn.execute(findings.insert(), {
            "finding_id": "F1", "kind": "role_gap", "client_id": "K1", "segment": "metals",
            "process_class": None, "factor": None, "metric": None,
            "summary": "K1: the operator is not satisfied", "owner": "key_accounts",
            "owner_person": None, "found_on": date(2026, 3, 20), "due_on": date(2026, 4, 3)})
        conn.execute(finding_states.insert(), {
            "finding_id": "F1", "status": "acknowledged", "reason": None,
            "changed_at": datetime(2026, 3, 21), "reopened": 0,
            "last_found_on": date(2026, 3, 20)})


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("cx-view")
    url = f"sqlite:///{folder / 'warehouse.db'}"
    migrate(engine_for(url))
    seed_crm(url)
    answers = folder / "past.csv"
    answers.write_text(",".join(COLUMNS) + "\n" + "\n".join(
        f"C1,K1,,relationship,nps,{s},,2026-03-{d:02d}T10:00:00"
        for d, s in enumerate([10, 9, 9, 3, 8], start=1)) + "\n", encoding="utf-8")
    import_files(url, [answers], now=datetime(2026, 11, 1))
    publish_kpis(url, date(2026, 4, 1), kpi_inputs(KpiRules(min_n=5)))
    _seed_cases_and_initiatives(url)
    archive = folder / "digests" / "weekly" / "2026-03-30T0500" / "weekly"
    archive.mkdir(parents=True)
    (archive / "cx_team.html").write_text("<html><body>weekly digest</body></html>")
    (folder / "secret.txt").write_text("not for the view")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_CX_WAREHOUSE",
                     json.dumps({"conn_type": "sqlite", "host": str(folder / "warehouse.db")}))
        patch.setenv("CX_DATA_DIR", str(folder))
        yield folder
    engine_for(url).dispose()


@pytest.fixture(scope="module")
def api_server(airflow_db, warehouse: Path) -> TestClient:
    from airflow.api_fastapi.app import create_app

    _entry()["app"].app = None  # built on first request, under this module's environment
    return TestClient(create_app())


def _token(api_server: TestClient) -> str:
    passwords = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    answer = api_server.post("/auth/token", json={
        "username": "admin", "password": password_from_file(passwords, "admin")})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["access_token"]


def test_the_plugin_mounts_the_view_with_a_cx_navigation_entry() -> None:
    from cx_airflow.cx_view import CxViewPlugin

    assert _entry()["name"] == "CX view"
    assert CxViewPlugin.external_views == [{"name": "CX", "href": "/cx/kpis",
                                            "destination": "nav", "url_route": "cx",
                                            "category": "browse"}]


@pytest.mark.parametrize("path", ["/cx/kpis", "/cx/cases", "/cx/initiatives", "/cx/findings",
                                  "/cx/digests",
                                  "/cx/digests/weekly/2026-03-30T0500/weekly/cx_team.html"])
def test_an_anonymous_request_is_refused(api_server: TestClient, path: str) -> None:
    assert api_server.get(path).status_code == 401
    forged = api_server.get(path, headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401
    api_server.cookies.set("_token", "not.a.token")
    try:
        assert api_server.get(path).status_code == 401
    finally:
        api_server.cookies.clear()


def test_a_signed_in_request_is_served(api_server: TestClient) -> None:
    token = _token(api_server)
    page = api_server.get("/cx/kpis?level=all&period=month",
                          headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    # March's 5 answers are stored (published with min n 5), the view shows them by the
    # configured minimum (10): "n < 10", never a number on too few answers
    assert "n &lt; 10 (n 5)" in page.text and "signed in as admin" in page.text
    api_server.cookies.set("_token", token)  # the UI's session cookie serves as well
    try:
        archive = api_server.get("/cx/digests")
        assert archive.status_code == 200 and "cx_team.html" in archive.text
        digest = api_server.get("/cx/digests/weekly/2026-03-30T0500/weekly/cx_team.html")
        assert digest.status_code == 200 and "weekly digest" in digest.text
        assert api_server.get("/cx/digests/../secret.txt").status_code == 404
        assert api_server.get("/cx/digests/%2E%2E/secret.txt").status_code == 404
    finally:
        api_server.cookies.clear()


def test_the_cases_initiatives_and_findings_pages_show_the_register_escaped(
        api_server: TestClient) -> None:
    headers = {"Authorization": f"Bearer {_token(api_server)}"}
    page = api_server.get("/cx/cases", headers=headers)
    # the open case opened 2026-03-01 10:00: acknowledge by 03-02 10:00, close by 03-03 10:00
    assert page.status_code == 200 and "1 open cases, 1 overdue" in page.text
    assert "case:fb1" in page.text and "case:fb2" not in page.text
    assert "2026-03-02 10:00" in page.text and "2026-03-03 10:00" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; late again" in page.text
    assert "<script>" not in page.text
    everything = api_server.get("/cx/cases?everything=true", headers=headers)
    assert "2 cases, 1 overdue" in everything.text and "case:fb2" in everything.text
    register = api_server.get("/cx/initiatives", headers=headers)
    assert register.status_code == 200 and "Documents &lt;on time&gt;" in register.text
    # planned 2026-03-09, not reached: overdue; no change since 2026-03-02: stalled
    assert "Root cause found 2026-03-09 / — (overdue)" in register.text
    assert "stalled" in register.text
    found = api_server.get("/cx/findings", headers=headers)
    assert found.status_code == 200 and "acknowledged" in found.text
    assert 'href="/cx/cases"' in found.text and 'href="/cx/initiatives"' in found.text
