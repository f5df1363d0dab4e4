"""Signed tokens for the links in client e-mails (answer a survey, unsubscribe).

A token is ``<payload>.<signature>``: the payload is the claims as compact JSON in
base64url, the signature HMAC-SHA256 of the payload under the survey secret, base64url.
A token is bound to one invitation, its contact and survey, the question its links answer
and that question's score range, its purpose, and an expiry; changing any byte breaks the
signature. Nothing is stored to issue a token, so any number can be made; verifying one
needs only the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

Purpose = Literal["answer", "unsubscribe", "case", "milestone", "pulse"]
"""What a token allows. A one-touch link of the implement stage reuses the claims' fields:
``invitation_id`` holds the case (or initiative) id, ``contact_id`` the owner it was sent
to, ``survey_id`` the action (``cx_tasks.implement.links``)."""


class InvalidToken(ValueError):
    """A token that must not be honoured; ``reason`` says why (shown to the client)."""

    def __init__(self, reason: Literal["malformed", "forged", "expired", "purpose", "score"]):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenClaims:
    """What a link is allowed to do: for whom, on which survey question, until when."""

    invitation_id: str
    contact_id: str
    survey_id: str
    purpose: Purpose
    expires_at: int
    """Unix seconds (UTC) after which the token is refused."""
    question_id: str | None = None
    score_min: int | None = None
    score_max: int | None = None

    def accepts(self, score: int) -> bool:
        """Whether ``score`` lies in the range the token was issued for."""
        return (self.score_min is not None and self.score_max is not None
                and self.score_min <= score <= self.score_max)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def sign(claims: TokenClaims, secret: bytes) -> str:
    """The token carrying ``claims``, signed with ``secret``."""
    body = json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True)
    payload = _b64(body.encode("utf-8"))
    return f"{payload}.{_signature(payload, secret)}"


def verify(token: str, secret: bytes, *, purpose: Purpose, now: datetime,
           score: int | None = None) -> TokenClaims:
    """The claims of a genuine token for ``purpose`` (and ``score``, if given), unexpired at
    ``now``; raises ``InvalidToken`` otherwise (``malformed`` for anything but ASCII
    ``payload.signature``). The signature is checked before anything is read."""
    payload, dot, signature = token.partition(".")
    if not token.isascii() or not dot or not payload or not signature:
        raise InvalidToken("malformed")
    if not hmac.compare_digest(signature, _signature(payload, secret)):
        raise InvalidToken("forged")
    try:
        claims = TokenClaims(**json.loads(_unb64(payload)))
    except (ValueError, TypeError) as error:
        raise InvalidToken("malformed") from error
    if now.timestamp() > claims.expires_at:
        raise InvalidToken("expired")
    if claims.purpose != purpose:
        raise InvalidToken("purpose")
    if score is not None and not claims.accepts(score):
        raise InvalidToken("score")
    return claims
