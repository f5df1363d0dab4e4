"""The addresses in client e-mails, served by the response app.

=====================================  ===================================================
``GET  {base}/r/{token}?score=N``      record score N for the token's first question, then
                                       show the rest of the survey as a form
``POST {base}/r/{token}``              the form: ``q_<question id>`` scores and ``comment``
``GET  {base}/u/{token}``              unsubscribe page (a button that POSTs)
``POST {base}/u/{token}``              unsubscribe; also RFC 8058 one-click
                                       (``List-Unsubscribe=One-Click``)
=====================================  ===================================================
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from cx_tasks.surveys.catalogue import Survey, SurveyCatalogue
from cx_tasks.surveys.tokens import TokenClaims, sign


def answer_token(invitation_id: str, contact_id: str, survey: Survey,
                 catalogue: SurveyCatalogue, issued_at: datetime, secret: bytes) -> str:
    """The token of an invitation's score links: its first question and that question's
    range, valid ``link_valid_days`` from ``issued_at`` (UTC)."""
    first = survey.questions[0]
    low, high = catalogue.questions[first].scale or (0, 0)
    expires = answer_expiry(issued_at, catalogue)
    return sign(TokenClaims(invitation_id=invitation_id, contact_id=contact_id,
                            survey_id=survey.id, purpose="answer",
                            expires_at=_unix(expires), question_id=first,
                            score_min=low, score_max=high), secret)


def answer_expiry(issued_at: datetime, catalogue: SurveyCatalogue) -> datetime:
    """When answer links issued at ``issued_at`` stop working: ``link_valid_days`` later
    (the earliest expiry of an invitation's links; unsubscribe links last longer)."""
    return issued_at + timedelta(days=catalogue.link_valid_days)


def score_links(base_url: str, token: str, low: int, high: int) -> list[tuple[int, str]]:
    """One link per score of the first question, lowest first."""
    return [(score, f"{base_url}/r/{quote(token)}?score={score}")
            for score in range(low, high + 1)]


def form_url(base_url: str, token: str) -> str:
    """Where the follow-up form is posted."""
    return f"{base_url}/r/{quote(token)}"


def unsubscribe_url(base_url: str, invitation_id: str, contact_id: str, survey_id: str,
                    catalogue: SurveyCatalogue, issued_at: datetime, secret: bytes) -> str:
    """The contact's unsubscribe link, valid ``unsubscribe_valid_days`` from ``issued_at``."""
    expires = issued_at + timedelta(days=catalogue.unsubscribe_valid_days)
    token = sign(TokenClaims(invitation_id=invitation_id, contact_id=contact_id,
                             survey_id=survey_id, purpose="unsubscribe",
                             expires_at=_unix(expires)), secret)
    return f"{base_url}/u/{quote(token)}"


def unsubscribe_headers(url: str) -> dict[str, str]:
    """``List-Unsubscribe`` with one-click (RFC 8058) for a client e-mail."""
    return {"List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _unix(moment: datetime) -> int:
    """Unix seconds of a naive-UTC or aware datetime."""
    if moment.tzinfo is None:
        return int((moment - datetime(1970, 1, 1)).total_seconds())
    return int(moment.timestamp())
