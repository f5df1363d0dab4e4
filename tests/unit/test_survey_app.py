"""The response app over a real SQLite warehouse: click, form, thanks; every refused link gets
its error page and stores nothing; comments are escaped; unsubscribes; and ``cx
serve-surveys`` answering real HTTP on a free port."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from fixtures.smtp_peers import free_port
from fixtures.surveys import response_rows, store_invitation
from sqlalchemy import select

from cx_tasks.config import Settings, settings
from cx_tasks.surveys.app import create_app
from cx_tasks.surveys.asset_events import AirflowApi, FeedbackAnnouncer
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.links import answer_token, form_url, score_links, unsubscribe_url
from cx_tasks.surveys.tokens import sign, verify
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import feedback, survey_answers, survey_responses, unsubscribes

SECRET = "s" * 32
CATALOGUE = survey_catalogue()
DELIVERY = CATALOGUE.for_event("delivery_completed")
FID = "survey:inv:e1:C1"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
"""The app's clock in these tests: a fixed moment, not the wall clock."""


@pytest.fixture()
def config(tmp_path: Path) -> Settings:
    config = settings({"CX_DATA_DIR": str(tmp_path), "CX_SURVEY_SECRET": SECRET})
    migrate(engine_for(config.warehouse_url))
    store_invitation(config.warehouse_url)
    store_invitation(config.warehouse_url, "inv:e2:C7", contact_id="C7", client_id="K2",
                     role="technical_buyer", language="ru")
    yield config
    engine_for(config.warehouse_url).dispose()


@pytest.fixture()
def heard() -> list[list[str]]:
    return []


@pytest.fixture()
def client(config: Settings, heard: list[list[str]]) -> TestClient:
    return TestClient(create_app(config, heard.append, now=lambda: NOW))


def _token(invitation_id: str = "inv:e1:C1", contact_id: str = "C1",
           issued_at: datetime | None = None, survey=DELIVERY) -> str:
    return answer_token(invitation_id, contact_id, survey, CATALOGUE,
                        issued_at or NOW, SECRET.encode())


def _unsubscribe_path(invitation_id: str = "inv:e1:C1", contact_id: str = "C1") -> str:
    return unsubscribe_url("", invitation_id, contact_id, DELIVERY.id, CATALOGUE,
                           NOW, SECRET.encode())


class _Page(HTMLParser):
    """The parts of a page the tests read: lang, forms, inputs, the error reason, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang = ""
        self.forms: list[dict[str, str | None]] = []
        self.radios: dict[str, list[str]] = {}
        self.checked: dict[str, str] = {}
        self.buttons: list[str | None] = []
        self.reason: str | None = None
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang") or ""
        elif tag == "form":
            self.forms.append(a)
        elif tag == "input" and a.get("type") == "radio":
            self.radios.setdefault(a["name"] or "", []).append(a["value"] or "")
            if "checked" in a:
                self.checked[a["name"] or ""] = a["value"] or ""
        elif tag == "button":
            self.buttons.append(a.get("id"))
        elif "data-reason" in a:
            self.reason = a["data-reason"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def content(self) -> str:
        """The page's text, whitespace runs as one space."""
        return " ".join("".join(self.text).split())


def _rows(config: Settings) -> dict[str, int]:
    with engine_for(config.warehouse_url).connect() as conn:
        return response_rows(conn)


def test_click_form_thanks(config: Settings, client: TestClient, heard) -> None:
    links = dict(score_links("", _token(), 1, 5))
    page = client.get(links[4])
    assert page.status_code == 200
    form = _Page(page.text)
    assert form.lang == "en"
    assert form.forms == [{"method": "post", "action": form_url("", _token())}]
    assert form.radios == {"q_ces": [str(s) for s in range(1, 8)],
                           "q_availability": ["1", "2", "3", "4", "5"],
                           "q_meeting_specifications": ["1", "2", "3", "4", "5"]}
    assert form.buttons == ["submit"]

    thanks = client.post(form.forms[0]["action"], data={
        "q_ces": "6", "q_availability": "5", "q_meeting_specifications": "",
        "comment": "Two pallets came late."})
    assert thanks.status_code == 200
    text = _Page(thanks.text).content
    assert "How satisfied are you? (1 - not at all, 5 - completely): 4" in text
    assert "(1-7): 6" in text and "The goods arrived on time and in full: 5" in text
    assert "Two pallets came late." in text
    with engine_for(config.warehouse_url).connect() as conn:
        assert conn.execute(select(survey_responses.c.invitation_id,
                                   survey_responses.c.comment,
                                   survey_responses.c.submitted)).all() == [
            ("inv:e1:C1", "Two pallets came late.", True)]
        assert dict(conn.execute(select(survey_answers.c.question_id,
                                        survey_answers.c.score)).all()) == {
            "csat": 4, "ces": 6, "availability": 5}
        assert conn.execute(select(feedback.c.feedback_id, feedback.c.scores)).all() == [
            (FID, '{"availability": 5, "ces": 6, "csat": 4}')]
    assert heard == [[FID], [FID]]


def test_a_second_click_updates_the_response_and_the_form_shows_what_is_stored(
        config: Settings, client: TestClient) -> None:
    token = _token()
    client.get(f"/r/{token}?score=4")
    client.post(f"/r/{token}", data={"q_ces": "3", "comment": "ok"})
    again = client.get(f"/r/{token}?score=2")
    assert again.status_code == 200
    assert _Page(again.text).checked == {"q_ces": "3"}
    assert _rows(config) == {"survey_responses": 1, "survey_answers": 2, "feedback": 1,
                             "unsubscribes": 0}
    with engine_for(config.warehouse_url).connect() as conn:
        assert conn.scalar(select(survey_answers.c.score)
                           .where(survey_answers.c.question_id == "csat")) == 2


def test_pages_are_in_the_invitations_language(client: TestClient) -> None:
    survey = CATALOGUE.for_event("delivery_completed")
    page = _Page(client.get(f"/r/{_token('inv:e2:C7', 'C7', survey=survey)}?score=5").text)
    assert page.lang == "ru"
    assert "Товар пришёл вовремя и в полном объёме" in page.content


def _altered(token: str) -> str:
    """The token with its payload's claims swapped for another contact's, signature kept."""
    claims = verify(token, SECRET.encode(), purpose="answer", now=NOW)
    payload = sign(replace(claims, contact_id="C7"), SECRET.encode()).split(".")[0]
    return f"{payload}.{token.split('.')[1]}"


REFUSED = {
    "forged": (lambda: answer_token("inv:e1:C1", "C1", DELIVERY, CATALOGUE, NOW,
                                    b"another secret"), "4", 403),
    "altered": (lambda: _altered(_token()), "4", 403),
    "malformed": (lambda: "not-a-token", "4", 400),
    "purpose": (lambda: _unsubscribe_path().removeprefix("/u/"), "4", 403),
    "expired": (lambda: _token(issued_at=NOW - timedelta(days=31)), "4", 410),
    "foreign": (lambda: _token("inv:nobody:C1"), "4", 404),
    "score": (_token, "6", 422),
    "score_text": (_token, "four", 422),
}
REASON = {"altered": "forged", "score_text": "score"}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_links_get_their_error_page_and_store_nothing(config: Settings,
                                                              client: TestClient, heard,
                                                              case: str) -> None:
    make, score, status = REFUSED[case]
    token = make()
    click = client.get(f"/r/{token}?score={score}")
    submit = client.post(f"/r/{token}", data={"q_csat": score, "comment": "x"})
    for page in (click, submit):
        assert page.status_code == status
        parsed = _Page(page.text)
        assert parsed.reason == REASON.get(case, case)
        assert "Nothing was recorded." in parsed.content
    assert _rows(config) == dict.fromkeys(_rows(config), 0)
    assert heard == []


def test_an_error_page_for_an_unknown_invitation_speaks_the_browsers_language(
        client: TestClient) -> None:
    page = client.get(f"/r/{_token('inv:nobody:C1')}?score=4",
                      headers={"Accept-Language": "de-DE, ru;q=0.8, en;q=0.5"})
    assert (page.status_code, _Page(page.text).lang) == (404, "ru")


@pytest.mark.parametrize(("data", "reason"), [
    ({"q_nps": "9"}, "unknown_question"),
    ({"q_ces": "8"}, "score"),
    ({"comment": "x" * (CATALOGUE.comment_max_chars + 1)}, "comment_too_long"),
])
def test_a_refused_form_stores_nothing(config: Settings, client: TestClient, data,
                                       reason: str) -> None:
    page = client.post(f"/r/{_token()}", data={"q_ces": "5", **data})
    assert (page.status_code, _Page(page.text).reason) == (422, reason)
    assert _rows(config) == dict.fromkeys(_rows(config), 0)


def test_a_comment_is_escaped_on_the_thanks_page_and_when_the_form_shows_it_again(
        config: Settings, client: TestClient) -> None:
    attack = '</textarea><script>alert("x")</script><img src=x onerror=alert(1)>'
    token = _token()
    thanks = client.post(f"/r/{token}", data={"q_ces": "5", "comment": attack})
    form = client.get(f"/r/{token}?score=3")
    for page in (thanks, form):
        assert page.status_code == 200
        assert "<script>" not in page.text and "<img" not in page.text
        assert ("&lt;/textarea&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
                "&lt;img src=x onerror=alert(1)&gt;") in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
    with engine_for(config.warehouse_url).connect() as conn:
        assert conn.scalar(select(feedback.c.text)) == attack


def test_one_click_unsubscribe_and_the_confirmation_page(config: Settings,
                                                         client: TestClient) -> None:
    one_click = client.post(_unsubscribe_path(), data={"List-Unsubscribe": "One-Click"},
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert one_click.status_code == 200
    path = _unsubscribe_path("inv:e2:C7", "C7")
    page = client.get(path)
    parsed = _Page(page.text)
    assert (page.status_code, parsed.lang, parsed.buttons) == (200, "ru", ["submit"])
    assert parsed.forms == [{"method": "post", "action": path}]
    assert _rows(config)["unsubscribes"] == 1            # looking does not unsubscribe
    assert client.post(path, data={"confirm": "yes"}).status_code == 200
    with engine_for(config.warehouse_url).connect() as conn:
        assert sorted(conn.execute(select(unsubscribes.c.contact_id,
                                          unsubscribes.c.channel)).all()) == [
            ("C1", "list_unsubscribe"), ("C7", "email_link")]


def test_an_unsubscribe_for_a_contact_the_crm_does_not_know_is_refused(
        config: Settings, client: TestClient) -> None:
    page = client.post(_unsubscribe_path("inv:e1:C9", contact_id="C9"), data={"confirm": "yes"})
    assert (page.status_code, _Page(page.text).reason) == (404, "foreign")
    assert _rows(config)["unsubscribes"] == 0


def test_an_unsubscribe_link_needs_no_survey_invitation(config: Settings,
                                                      client: TestClient) -> None:
    # an acknowledgement of a claim answers no survey: its link names the signed contact only
    path = _unsubscribe_path("ack:claim:K1", contact_id="C7")
    page = client.get(path)
    assert (page.status_code, _Page(page.text).lang) == (200, "ru")  # C7's CRM language
    assert client.post(path, data={"confirm": "yes"}).status_code == 200
    with engine_for(config.warehouse_url).connect() as conn:
        assert conn.execute(select(unsubscribes.c.contact_id)).scalars().all() == ["C7"]


def test_the_response_is_stored_when_airflow_is_unreachable(config: Settings,
                                                            caplog) -> None:
    announcer = FeedbackAnnouncer(AirflowApi(f"http://127.0.0.1:{free_port()}", "admin", "x"))
    client = TestClient(create_app(config, announcer, now=lambda: NOW))
    with caplog.at_level(logging.WARNING, logger="cx_tasks.surveys.asset_events"):
        assert client.get(f"/r/{_token()}?score=5").status_code == 200
    assert _rows(config)["feedback"] == 1
    assert f"feedback ['{FID}'] stored but not announced to Airflow" in caplog.text
    assert "ConnectError" in caplog.text


def test_a_failing_listener_never_undoes_the_response(config: Settings) -> None:
    def broken(feedback_ids: list[str]) -> None:
        raise RuntimeError("listener down")

    client = TestClient(create_app(config, broken, now=lambda: NOW))
    assert client.get(f"/r/{_token()}?score=5").status_code == 200
    assert _rows(config)["feedback"] == 1


@pytest.mark.slow
@pytest.mark.real_clock
def test_cx_serve_surveys_answers_real_http(config: Settings, tmp_path: Path) -> None:
    issued = datetime.now(UTC)  # the server in its own process checks links on the wall clock
    port = free_port()
    env = {**os.environ, "CX_DATA_DIR": str(config.data_dir), "CX_SURVEY_SECRET": SECRET}
    env.pop("CX_AIRFLOW_API_URL", None)
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("cx")), "serve-surveys", "--host", "127.0.0.1",
         "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        token = _token(issued_at=issued)
        page = _when_listening(server, lambda: httpx.get(f"{base}/r/{token}?score=3"))
        assert page.status_code == 200
        assert _Page(page.text).buttons == ["submit"]
        thanks = httpx.post(f"{base}/r/{token}", data={"q_ces": "7", "comment": "fine"})
        assert thanks.status_code == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "CX_AIRFLOW_API_URL not set" in output
    with engine_for(config.warehouse_url).connect() as conn:
        assert dict(conn.execute(select(survey_answers.c.question_id,
                                        survey_answers.c.score)).all()) == {"csat": 3, "ces": 7}


def _when_listening(server: subprocess.Popen, request, wait_s: float = 60.0) -> httpx.Response:
    """``request()`` once the server accepts connections (it may take a while to import)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return request()
        except httpx.ConnectError:
            if server.poll() is not None or time.monotonic() > deadline:
                output = server.stdout.read() if server.poll() is not None else ""
                raise AssertionError(f"cx serve-surveys not listening: {output}") from None
            time.sleep(0.2)
