"""One-touch links in the implement stage's e-mails to owners, served by the response app.

The same signed tokens as survey links (``cx_tasks.surveys.tokens``), bound to the subject
(a case, or an initiative's milestone), the owner the e-mail went to, the action and an
expiry. Nothing is stored to issue one; the app refuses a forged, expired or foreign one
(the subject unknown, or now owned by someone else) and stores nothing.

===================================  ======================================================
``GET  {base}/c/{token}``            the case and a small form: acknowledge, or close with
                                     a resolution note
``POST {base}/c/{token}``            do it
``GET  {base}/m/{token}``            an initiative's milestone and a button: reached today
``POST {base}/m/{token}``            do it
===================================  ======================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

from cx_tasks.surveys.links import _unix
from cx_tasks.surveys.tokens import TokenClaims, sign

CaseAction = Literal["acknowledge", "close"]
CASE_ACTIONS: tuple[CaseAction, ...] = ("acknowledge", "close")


@dataclass(frozen=True)
class LinkKeys:
    """What signing a one-touch link needs: the response app's address and the key."""

    base_url: str
    secret: bytes


def case_link(keys: LinkKeys, case_id: str, owner: str, action: CaseAction,
              issued_at: datetime, valid_hours: int) -> str:
    """The one-touch link doing ``action`` on ``case_id`` for ``owner``, valid
    ``valid_hours`` from ``issued_at`` (naive UTC)."""
    claims = TokenClaims(invitation_id=case_id, contact_id=owner, survey_id=action,
                         purpose="case",
                         expires_at=_unix(issued_at + timedelta(hours=valid_hours)))
    return f"{keys.base_url}/c/{quote(sign(claims, keys.secret))}"


def milestone_link(keys: LinkKeys, initiative_id: str, milestone_id: str, owner: str,
                   issued_at: datetime, valid_hours: int) -> str:
    """The one-touch link marking ``milestone_id`` of ``initiative_id`` reached, for its
    ``owner``."""
    claims = TokenClaims(invitation_id=f"{initiative_id}#{milestone_id}", contact_id=owner,
                         survey_id="reach", purpose="milestone",
                         expires_at=_unix(issued_at + timedelta(hours=valid_hours)))
    return f"{keys.base_url}/m/{quote(sign(claims, keys.secret))}"
