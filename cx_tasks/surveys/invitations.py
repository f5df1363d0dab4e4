"""The invitation (and reminder) e-mail of one survey invitation, in the contact's language.

The first question is answered in the e-mail itself: one link per score of its range, each
carrying the invitation's signed answer token (``links.score_links``). The body names the
client and carries the unsubscribe link, which the ``List-Unsubscribe`` headers repeat; it
comes from the supplier of ``rules/supplier.yaml`` (``From``, ``Reply-To``, name, signature)
and follows the letter conventions of ``mail.etiquette`` (salutation, company name).
Templates: ``mail/templates/<language>/survey_invitation.{txt,html}.j2`` (the phrases in
``<language>/survey_texts.j2``, the layout shared); a reminder is the same message with a
reminder line and subject prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cx_tasks.config import Settings
from cx_tasks.mail.etiquette import company_name, salutation
from cx_tasks.mail.render import RenderedMail, render_mail
from cx_tasks.mail.supplier import supplier
from cx_tasks.surveys.catalogue import SurveyCatalogue
from cx_tasks.surveys.links import answer_token, score_links, unsubscribe_headers, unsubscribe_url

TEMPLATE = "survey_invitation"
INVITATION_FIELDS = ("invitation_id", "contact_id", "survey_id", "language", "full_name",
                     "client_name", "order_id", "ref_id")
"""What ``invitation_mail`` reads from an invitation (``order_id``, ``ref_id`` may be None)."""


def invitation_mail(invitation: Mapping[str, Any], catalogue: SurveyCatalogue,
                    settings: Settings, issued_at: datetime, *,
                    reminder: bool = False) -> tuple[RenderedMail, dict[str, str]]:
    """The e-mail inviting ``invitation``'s contact (``INVITATION_FIELDS``) to its survey, and
    its extra headers (sender, reply-to, unsubscribe); links are signed with ``settings``'
    secret and valid from ``issued_at``."""
    survey = next(s for s in catalogue.surveys if s.id == invitation["survey_id"])
    first = catalogue.questions[survey.questions[0]]
    low, high = first.scale or (0, 0)
    language = invitation["language"]
    secret, base = settings.survey_secret, settings.survey_base_url
    invitation_id, contact_id = invitation["invitation_id"], invitation["contact_id"]
    token = answer_token(invitation_id, contact_id, survey, catalogue, issued_at, secret)
    unsubscribe = unsubscribe_url(base, invitation_id, contact_id, survey.id, catalogue,
                                  issued_at, secret)
    sender = supplier(settings.rules_dir)
    mail = render_mail(TEMPLATE, language, {
        "reminder": reminder, "event_type": survey.event_type,
        "order_id": invitation["order_id"], "ref_id": invitation["ref_id"],
        "salutation": salutation(invitation["full_name"], language),
        "client_name": company_name(invitation["client_name"], language),
        "supplier": sender.text(language),
        "question": first.text.get(language, first.text["en"]),
        "score_links": score_links(base, token, low, high), "unsubscribe_url": unsubscribe,
    })
    return mail, {**sender.sender_headers(language), **unsubscribe_headers(unsubscribe)}
