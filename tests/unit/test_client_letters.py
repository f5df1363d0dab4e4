"""What clients see: the supplier (rules/supplier.yaml) in every e-mail and page, Russian
business salutations from first name and patronymic, company names quoted once, reference
numbers that never wrap. Expected strings are written by hand; e-mails are real MIME parsed
back with the ``email`` package."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pydantic import ValidationError

from cx_tasks.config import Settings, parse_yaml, rules_text
from cx_tasks.mail.etiquette import company_name, salutation
from cx_tasks.mail.outbox import OutboxMessage
from cx_tasks.mail.smtp import mime_message
from cx_tasks.mail.supplier import Supplier, supplier
from cx_tasks.surveys.app import _Pages
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.invitations import invitation_mail

ISSUED = datetime(2026, 6, 3, 10)
CONFIG = Settings(data_dir=Path("/nonexistent"), warehouse_url="", source_url="",
                  rules_dir=None, survey_base_url="https://cx.example.com",
                  survey_secret_text="letters-secret")
INVITATION = {"invitation_id": "inv:delivery_completed:O00000031:c1", "contact_id": "c1",
              "survey_id": "tx_delivery_completed", "language": "ru",
              "full_name": "Иванов Олег Антонович", "client_name": "ООО «Алтайхимпром»",
              "order_id": "O00000031", "ref_id": "O00000031"}


@pytest.mark.parametrize(("full_name", "language", "expected"), [
    ("Иванов Олег Антонович", "ru", "Уважаемый Олег Антонович!"),       # surname first (CRM)
    ("Анна Сергеевна Смирнова", "ru", "Уважаемая Анна Сергеевна!"),     # surname last
    ("Кузнецова Вера Никитична", "ru", "Уважаемая Вера Никитична!"),    # -ична
    ("Козлова Ольга Ильинична", "ru", "Уважаемая Ольга Ильинична!"),    # -инична
    ("Лебедев Пётр Ильич", "ru", "Уважаемый Пётр Ильич!"),              # -ич
    ("Попов Дмитрий Андреевич", "ru", "Уважаемый Дмитрий Андреевич!"),  # -евич
    ("Шостакович Дмитрий Дмитриевич", "ru", "Уважаемый Дмитрий Дмитриевич!"),  # -ович surname
    ("Иван Петров", "ru", "Здравствуйте!"),                             # no patronymic
    ("Anna Smith", "ru", "Здравствуйте!"),
    (None, "ru", "Здравствуйте!"),
    ("", "ru", "Здравствуйте!"),
    ("Anna Smith", "en", "Dear Anna Smith,"),                           # no title in the CRM
    (None, "en", "Hello,"),
])
def test_salutation_from_first_name_and_patronymic(full_name, language, expected) -> None:
    assert salutation(full_name, language) == expected


@pytest.mark.parametrize(("name", "language", "expected"), [
    ("ООО «Алтайхимпром»", "ru", "ООО «Алтайхимпром»"),  # its own quotes: as is
    ('АО "Сталь"', "ru", 'АО "Сталь"'),
    ("Сибмет", "ru", "«Сибмет»"),
    ("Acme Ltd", "en", "Acme Ltd"),
])
def test_company_name_is_quoted_once(name, language, expected) -> None:
    assert company_name(name, language) == expected


def _parsed(invitation: dict):
    mail, headers = invitation_mail(invitation, survey_catalogue(), CONFIG, ISSUED)
    message = OutboxMessage(idempotency_key="k", message_id="<k@cx-loop>", kind="invitation",
                            recipient="o.ivanov@client.example.ru", subject=mail.subject,
                            body_text=mail.text, body_html=mail.html, created_at=ISSUED,
                            attempts=1, contact_id="c1", headers=headers)
    raw = mime_message(message, "envelope@example.com").as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    return (parsed, parsed.get_body(("plain",)).get_content(),
            parsed.get_body(("html",)).get_content())


def test_russian_invitation_names_the_supplier_and_greets_by_name_and_patronymic() -> None:
    message, text, html = _parsed(INVITATION)
    assert message["From"].addresses[0].display_name == "ТехноСнаб, служба качества"
    assert message["From"].addresses[0].addr_spec == "cx-loop@example.com"
    assert message["Reply-To"] == "care@technosnab.example.ru"
    assert text.startswith("Уважаемый Олег Антонович!\n")
    assert "<p>Уважаемый Олег Антонович!</p>" in html
    assert "Спасибо!\nСлужба качества обслуживания клиентов ООО «ТехноСнаб»\n" in text
    assert ("Вы получили это письмо от ООО «ТехноСнаб» как контактное лицо компании "
            "ООО «Алтайхимпром».") in text
    assert "«ООО «Алтайхимпром»»" not in text and "«ООО «Алтайхимпром»»" not in html
    assert ("Ответить на письмо или задать вопрос можно по адресу: "
            "care@technosnab.example.ru") in text
    # the order number is glued to its sign and never wraps
    assert "Недавно мы доставили вам заказ №\u00a0O00000031." in text
    assert ('заказ №\u00a0<span style="white-space: nowrap;">O00000031</span>.' in html)
    assert message["Subject"] == "Оцените доставку заказа № O00000031"


def test_english_invitation_names_the_supplier_in_english() -> None:
    message, text, html = _parsed({**INVITATION, "language": "en", "full_name": "Anna Smith",
                                   "client_name": "Acme Ltd"})
    assert str(message["From"]) == "TechnoSnab Customer Care <cx-loop@example.com>"
    assert text.startswith("Dear Anna Smith,\n")
    assert "Thank you!\nCustomer Care, TechnoSnab LLC\n" in text
    assert "You receive this e-mail from TechnoSnab LLC as a contact of Acme Ltd." in text
    assert "TechnoSnab LLC" in html


def test_supplier_settings_come_from_the_users_rules_folder(tmp_path) -> None:
    text = rules_text("supplier").replace("ООО «ТехноСнаб»", "АО «Уралмет»").replace(
        "care@technosnab.example.ru", "otvet@uralmet.example.ru")
    (tmp_path / "supplier.yaml").write_text(text, encoding="utf-8")
    config = dataclasses.replace(CONFIG, rules_dir=tmp_path)
    mail, headers = invitation_mail(INVITATION, survey_catalogue(), config, ISSUED)
    assert headers["Reply-To"] == "otvet@uralmet.example.ru"
    assert "Служба качества обслуживания клиентов АО «Уралмет»" in mail.text


@pytest.mark.parametrize(("change", "message"), [
    ({"name": {"ru": "ООО «Х»"}}, "missing \\['en'\\]"),
    ({"reply_to": "not an address"}, "is not an e-mail address"),
    ({"currency": "rub"}, "String should match pattern"),
    ({"phone": "+7"}, "Extra inputs are not permitted"),
])
def test_a_bad_supplier_file_is_refused(change, message) -> None:
    with pytest.raises(ValidationError, match=message):
        Supplier.model_validate({**parse_yaml(rules_text("supplier")), **change})


@pytest.mark.parametrize(("language", "name", "signature"), [
    ("ru", "ООО «ТехноСнаб»", "Служба качества обслуживания клиентов ООО «ТехноСнаб»"),
    ("en", "TechnoSnab LLC", "Customer Care, TechnoSnab LLC"),
])
def test_every_page_names_the_supplier_and_where_to_write(language, name, signature) -> None:
    pages = _Pages(survey_catalogue(), supplier())
    for page, context in [("unsubscribed", {}), ("error", {"reason": "expired"})]:
        html = pages.render(page, language, **context).body.decode()
        assert f"<header>{name}</header>" in html
        assert (f'<footer>{signature} · <a href="mailto:care@technosnab.example.ru">'
                "care@technosnab.example.ru</a></footer>") in html
