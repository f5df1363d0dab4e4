"""The response app's edges (issue 14, section 4), on SQLite and PostgreSQL: control
characters in a comment, non-ASCII tokens, empty and partial forms, scores that are not
plain ASCII digits, bytes that are not UTF-8, and the headers of the framework's own
answers (404, 405, 422, 500)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fixtures.surveys import response_rows, store_invitation
from sqlalchemy import select

from cx_tasks.config import Settings, settings
from cx_tasks.surveys.app import HEADERS, create_app
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.links import answer_token
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import survey_answers, survey_invitations, survey_responses

SECRET = "edge secret " * 3
CATALOGUE = survey_catalogue()
DELIVERY = CATALOGUE.for_event("delivery_completed")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def config(warehouse_url: str, tmp_path: Path) -> Settings:
    store_invitation(warehouse_url)
    base = settings({"CX_DATA_DIR": str(tmp_path), "CX_SURVEY_SECRET": SECRET})
    return replace(base, warehouse_url=warehouse_url)


@pytest.fixture()
def client(config: Settings) -> TestClient:
    return TestClient(create_app(config), raise_server_exceptions=False)


def token() -> str:
    return answer_token("inv:e1:C1", "C1", DELIVERY, CATALOGUE, datetime.now(UTC),
                        SECRET.encode())


def reason(page) -> str:
    marker = 'data-reason="'
    return page.text.split(marker, 1)[1].split('"', 1)[0] if marker in page.text else ""


def nothing_stored(config: Settings) -> bool:
    with engine_for(config.warehouse_url).connect() as conn:
        answered = conn.scalar(select(survey_invitations.c.answered_at))
        return answered is None and set(response_rows(conn).values()) == {0}


def stored(config: Settings) -> tuple[str | None, dict[str, int]]:
    with engine_for(config.warehouse_url).connect() as conn:
        comment = conn.scalar(select(survey_responses.c.comment))
        scores = dict(conn.execute(select(survey_answers.c.question_id,
                                          survey_answers.c.score)).all())
    return comment, scores


def test_a_nul_byte_in_a_comment_is_refused_with_a_clear_page(config, client) -> None:
    page = client.post(f"/r/{token()}", data={"q_ces": "5", "comment": "late\x00pallets"})
    assert (page.status_code, reason(page)) == (422, "comment_characters")
    assert "control characters" in page.text
    assert nothing_stored(config)


@pytest.mark.parametrize("bad", ["tök.en", "ЖЖЖ.abc", token()[:-2] + "é"])
def test_a_token_with_non_ascii_characters_is_malformed(config, client, bad: str) -> None:
    for page in (client.get(f"/r/{bad}?score=3"), client.post(f"/r/{bad}", data={}),
                 client.get(f"/u/{bad}"), client.post(f"/u/{bad}")):
        assert (page.status_code, reason(page)) == (400, "malformed")
    assert nothing_stored(config)


def test_an_empty_form_on_an_unanswered_invitation_is_no_answer(config, client) -> None:
    for data in ({}, {"comment": ""}, {"comment": "only words", "q_ces": ""}):
        page = client.post(f"/r/{token()}", data=data)
        assert (page.status_code, reason(page)) == (422, "no_score")
    assert nothing_stored(config)


def test_a_form_without_the_comment_field_leaves_the_stored_comment(config, client) -> None:
    assert client.get(f"/r/{token()}?score=4").status_code == 200
    assert client.post(f"/r/{token()}", data={"comment": "two pallets late"}).status_code == 200
    assert client.post(f"/r/{token()}", data={"q_ces": "6"}).status_code == 200
    assert stored(config) == ("two pallets late", {"csat": 4, "ces": 6})
    # an empty comment field is the client clearing it
    assert client.post(f"/r/{token()}", data={"comment": ""}).status_code == 200
    assert stored(config) == (None, {"csat": 4, "ces": 6})


@pytest.mark.parametrize("score", ["٥", "３", "+3", " 3", "3 ", "0_3", "3.0", "1e0"])
def test_a_score_is_plain_ascii_digits(config, client, score: str) -> None:
    click = client.get(f"/r/{token()}", params={"score": score})
    form = client.post(f"/r/{token()}", data={"q_ces": score, "comment": "x"})
    for page in (click, form):
        assert (page.status_code, reason(page)) == (422, "score")
    assert nothing_stored(config)


@pytest.mark.parametrize("body", [b"q_ces=5&comment=%FF%FEbad", b"q_ces=5&comment=caf\xe9",
                                  b"q_ces=5&comment=%C3"])
def test_a_form_that_is_not_utf8_is_refused(config, client, body: bytes) -> None:
    page = client.post(f"/r/{token()}", content=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (page.status_code, reason(page)) == (400, "encoding")
    assert nothing_stored(config)


def test_a_utf8_form_is_stored_as_sent(config, client) -> None:
    body = "q_ces=5&comment=caf%C3%A9+—+ok".encode()  # percent-encoded and raw UTF-8
    page = client.post(f"/r/{token()}", content=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert page.status_code == 200
    assert stored(config) == ("café — ok", {"ces": 5})


def assert_secured(page) -> None:
    for name, value in HEADERS.items():
        assert page.headers.get(name) == value, (page.status_code, name)
    assert "server" not in page.headers


def test_the_frameworks_own_answers_carry_the_security_headers(config, client) -> None:
    assert_secured(client.get("/nowhere"))
    assert client.get("/nowhere").status_code == 404
    wrong_method = client.delete(f"/r/{token()}")
    assert wrong_method.status_code == 405
    assert_secured(wrong_method)
    assert_secured(client.get("/r/%FF.x?score=3"))


def test_a_server_error_carries_the_security_headers(tmp_path: Path) -> None:
    """A warehouse without tables: the click fails inside the app (500)."""
    base = settings({"CX_DATA_DIR": str(tmp_path), "CX_SURVEY_SECRET": SECRET})
    broken = TestClient(create_app(base), raise_server_exceptions=False)
    page = broken.get(f"/r/{token()}?score=3")
    assert (page.status_code, reason(page)) == (500, "server")
    assert_secured(page)
    engine_for(base.warehouse_url).dispose()


def test_cx_ui_runs_airflow_standalone_on_loopback(tmp_path: Path) -> None:
    """The README's way to the UI (`cx ui`) binds the api-server to 127.0.0.1 only (Airflow's
    own default is every interface)."""
    from dataclasses import replace
    from datetime import date

    from cx_tasks.config import settings
    from cx_tasks.demo.run import DemoPlan
    from cx_tasks.demo.ui import ui_environment

    config = replace(settings(), data_dir=tmp_path)
    env = ui_environment(config, DemoPlan(end=date(2026, 12, 7)), "{}", 8080)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "python3 dev.py ui" in readme and "127.0.0.1 only" in readme
