"""A client answers a survey in a real browser: the invitation travels through the outbox to
a real SMTP server, headless Chromium opens a score link from the received e-mail, fills
the follow-up form and submits it, and the answers are in the warehouse.

Needs Debian's ``chromium`` and ``chromedriver``; skips without them, except in CI
(``CI=true``), where ``.ci/run`` installs them and their absence fails the test.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures.chromium import headless_chromium
from fixtures.surveys import store_invitation
from sqlalchemy import select

from cx_tasks.config import Settings, settings
from cx_tasks.demo.respondents import Invitation, survey_invitations
from cx_tasks.demo.smtp_sink import SmtpSink
from cx_tasks.loopback import free_port
from cx_tasks.mail.outbox import deliver, enqueue
from cx_tasks.mail.smtp import session_transport
from cx_tasks.surveys.app import create_app
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.invitations import invitation_mail
from cx_tasks.surveys.serving import serving
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import feedback, survey_answers, survey_responses

INVITATION = {"invitation_id": "inv:e1:C1", "contact_id": "C1",
              "survey_id": "tx_delivery_completed", "language": "ru",
              "full_name": "Ирина Петрова", "client_name": "ООО «Сталь»",
              "order_id": "O-17", "ref_id": "S-17"}


@pytest.fixture()
def chromium() -> Iterator[object]:
    with headless_chromium("--lang=ru") as driver:
        yield driver


@pytest.fixture()
def app_server(tmp_path: Path) -> Iterator[Settings]:
    """The response app under uvicorn on a free port, over a fresh SQLite warehouse."""
    port = free_port()
    config = settings({"CX_DATA_DIR": str(tmp_path), "CX_SURVEY_SECRET": "browser-secret",
                       "CX_SURVEY_BASE_URL": f"http://127.0.0.1:{port}"})
    migrate(engine_for(config.warehouse_url))
    store_invitation(config.warehouse_url, language="ru")
    with serving(create_app(config), port=port):
        yield config
    engine_for(config.warehouse_url).dispose()


def _received_invitation(config: Settings, mail_dir: Path) -> Invitation:
    """Send the invitation through the outbox to a real SMTP server; what arrived."""
    mail, headers = invitation_mail(INVITATION, survey_catalogue(), config,
                                    datetime.now(UTC))
    with engine_for(config.warehouse_url).begin() as conn:
        enqueue(conn, idempotency_key="invitation:inv:e1:C1", kind="invitation",
                recipient="irina@stal.example", subject=mail.subject, body_text=mail.text,
                body_html=mail.html, created_at=datetime(2026, 11, 1, 9), contact_id="C1",
                headers=headers)
    with SmtpSink(mail_dir) as sink:
        summary = deliver(config.warehouse_url, session_transport(
            lambda: smtplib.SMTP(sink.host, sink.port, timeout=10), "cx@example.com"))
        received = sink.mail.messages()
    assert summary.sent == 1 and len(received) == 1
    return survey_invitations(received, config.survey_base_url)[0]


def test_a_client_answers_from_the_email_in_chromium(chromium, app_server: Settings,
                                                     tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    invitation = _received_invitation(app_server, tmp_path / "mail")
    assert (invitation.recipient, sorted(invitation.score_links)) == (
        "irina@stal.example", [1, 2, 3, 4, 5])
    score_4 = invitation.score_links[4]

    chromium.get(score_4)
    # the click answered the first question: the form asks only the rest
    assert chromium.find_elements(By.CSS_SELECTOR, "input[name=q_csat]") == []
    chromium.find_element(By.ID, "q_ces_6").click()
    chromium.find_element(By.ID, "q_availability_5").click()
    chromium.find_element(By.ID, "comment").send_keys("Машина пришла на день позже <b>!</b>")
    submit = chromium.find_element(By.ID, "submit")
    submit.click()
    # the thank-you page: the form gone first (its textarea is a #comment too), then the answer
    WebDriverWait(chromium, 20).until(shown.staleness_of(submit))
    WebDriverWait(chromium, 20).until(shown.presence_of_element_located((By.ID, "comment")))

    # the comment is shown back as text, never as markup
    assert chromium.find_elements(By.CSS_SELECTOR, "#comment b") == []
    assert "<b>!</b>" in chromium.find_element(By.ID, "comment").text
    with engine_for(app_server.warehouse_url).connect() as conn:
        answers = dict(conn.execute(select(survey_answers.c.question_id,
                                           survey_answers.c.score)).all())
        response = conn.execute(select(survey_responses)).mappings().one()
        stored = conn.execute(select(feedback)).mappings().one()
    assert answers == {"csat": 4, "ces": 6, "availability": 5}
    assert response["comment"] == "Машина пришла на день позже <b>!</b>"
    assert response["submitted"] is True
    assert (stored["feedback_id"], stored["client_id"], stored["contact_id"]) == (
        "survey:inv:e1:C1", "K1", "C1")
