"""The invitation e-mail, built into MIME as the outbox sends it and parsed back with the
``email`` package: both parts, in the contact's language, one signed link per score, the
unsubscribe link in the body and in the headers, client names escaped in HTML."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from cx_tasks.config import Settings
from cx_tasks.mail.outbox import OutboxMessage
from cx_tasks.mail.smtp import mime_message
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.invitations import invitation_mail
from cx_tasks.surveys.tokens import InvalidToken, verify

CATALOGUE = survey_catalogue()
SECRET = "mail-test-secret"
ISSUED = datetime(2026, 6, 3, 10)
CONFIG = Settings(data_dir=Path("/nonexistent"), warehouse_url="", source_url="",
                  rules_dir=None, survey_base_url="https://cx.example.com",
                  survey_secret_text=SECRET)
DELIVERY = {"invitation_id": "inv:delivery_completed:O7:c1", "contact_id": "c1",
            "survey_id": "tx_delivery_completed", "language": "ru",
            "full_name": "Петрова Анна Сергеевна", "client_name": 'ООО "Сталь & <Трубы>"',
            "order_id": "O7", "ref_id": "O7"}


def parsed(invitation: dict, reminder: bool = False):
    """The message as a receiving client would see it."""
    mail, headers = invitation_mail(invitation, CATALOGUE, CONFIG, ISSUED, reminder=reminder)
    message = OutboxMessage(idempotency_key="k", message_id="<k@cx-loop>", kind="invitation",
                            recipient="anna@client.test", subject=mail.subject,
                            body_text=mail.text, body_html=mail.html, created_at=ISSUED,
                            attempts=1, contact_id=invitation["contact_id"], headers=headers)
    raw = mime_message(message, "cx@example.com").as_bytes()
    return message_from_bytes(raw, policy=policy.default)


def parts(message) -> tuple[str, str]:
    return (message.get_body(preferencelist=("plain",)).get_content(),
            message.get_body(preferencelist=("html",)).get_content())


def score_urls(text: str) -> list[str]:
    return re.findall(r"https://cx\.example\.com/r/[^\s\"<]+", text)


def test_russian_delivery_invitation_has_both_parts_and_five_signed_score_links() -> None:
    message = parsed(DELIVERY)
    assert message["Subject"] == "Оцените доставку заказа № O7"
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert text.startswith("Уважаемая Анна Сергеевна!\n")
    assert "Недавно мы доставили вам заказ №\u00a0O7." in text  # never wraps
    assert "Насколько вы удовлетворены?" in text and "Насколько вы удовлетворены?" in html
    links = score_urls(text)
    assert [int(u.rsplit("score=", 1)[1]) for u in links] == [1, 2, 3, 4, 5]
    assert [u.replace("&amp;", "&") for u in score_urls(html)] == links
    token = links[0].split("/r/")[1].split("?")[0]
    for score in range(1, 6):
        claims = verify(token, SECRET.encode(), purpose="answer", now=ISSUED, score=score)
    assert (claims.invitation_id, claims.contact_id, claims.survey_id, claims.question_id,
            claims.score_min, claims.score_max) == (
        "inv:delivery_completed:O7:c1", "c1", "tx_delivery_completed", "csat", 1, 5)
    with pytest.raises(InvalidToken, match="score"):
        verify(token, SECRET.encode(), purpose="answer", now=ISSUED, score=6)
    with pytest.raises(InvalidToken, match="expired"):  # link_valid_days = 30
        verify(token, SECRET.encode(), purpose="answer", now=ISSUED + timedelta(days=30, seconds=1))


def test_unsubscribe_link_in_both_parts_and_in_the_headers() -> None:
    message = parsed(DELIVERY)
    text, html = parts(message)
    header = message["List-Unsubscribe"]
    url = header.strip("<>")
    assert header == f"<{url}>" and url.startswith("https://cx.example.com/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Больше не получать опросы можно по ссылке: {url}" in text
    assert f'<a href="{url}"' in html and "Отписаться от опросов" in html
    claims = verify(url.split("/u/")[1], SECRET.encode(), purpose="unsubscribe", now=ISSUED)
    assert (claims.contact_id, claims.invitation_id) == ("c1", "inv:delivery_completed:O7:c1")


def test_client_name_is_escaped_in_html_and_verbatim_in_text() -> None:
    text, html = parts(parsed(DELIVERY))
    # the name carries its own quotation marks: shown as is, not in «» again
    assert 'компании ООО "Сталь & <Трубы>".' in text
    assert "компании ООО &#34;Сталь &amp; &lt;Трубы&gt;&#34;." in html
    assert "<Трубы>" not in html


def test_english_relationship_survey_asks_nps_with_eleven_links() -> None:
    invitation = {**DELIVERY, "language": "en", "survey_id": "rel_operator",
                  "invitation_id": "inv:relationship:A:2026-06-03:c1", "order_id": None,
                  "ref_id": None, "client_name": "Acme"}
    message = parsed(invitation)
    text, html = parts(message)
    assert message["Subject"] == "Would you recommend us?"
    assert text.startswith("Dear Петрова Анна Сергеевна,\n")
    assert "How likely are you to recommend us to a colleague or partner? (0-10)" in text
    assert [int(u.rsplit("score=", 1)[1]) for u in score_urls(text)] == list(range(11))
    assert '<html lang="en">' in html
    assert "You receive this e-mail from TechnoSnab LLC as a contact of Acme." in text


CLAIM = {**DELIVERY, "survey_id": "tx_claim_closed", "ref_id": "K3", "order_id": None,
         "invitation_id": "inv:claim_closed:K3:c1"}
REMINDER_SUBJECT = "Напоминание: Претензия № K3 закрыта: оцените нашу работу"


def test_reminder_says_so_in_subject_and_body() -> None:
    mail, _ = invitation_mail(CLAIM, CATALOGUE, CONFIG, ISSUED, reminder=True)
    assert mail.subject == REMINDER_SUBJECT
    text, _ = parts(parsed(CLAIM, reminder=True))
    assert "Несколько дней назад мы отправили вам этот вопрос" in text
    assert "Мы закрыли вашу претензию №\u00a0K3." in text
    assert "Несколько дней назад" not in parts(parsed(CLAIM))[0]


def test_a_long_russian_subject_survives_mime() -> None:
    assert parsed(CLAIM, reminder=True)["Subject"] == REMINDER_SUBJECT
