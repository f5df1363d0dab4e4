"""Paths without tokens for every access log of the response app.

A survey or unsubscribe link carries its signed token in the path (``/r/<token>``,
``/u/<token>``), and so do an owner's one-touch links (``/c/<token>`` for a case,
``/m/<token>`` for a milestone) and a staff member's pulse links (``/p/<token>``); a token
is a key: whoever reads it can answer or unsubscribe for the client, close a case for its
owner or answer the pulse for a colleague. Access logs write the request's
path from the ASGI scope: uvicorn's (``cx serve-surveys``) when the response starts,
Airflow's ``HttpAccessLogMiddleware`` (the plugin in the api-server) when the request ends.
``TokenFreePaths`` rewrites the scope's path once routing is done, at the start of the
response (or when the app raises, before the server's 500), so both log ``/r/redacted`` and
the query (``score=4``) and nothing of the token.
"""

from __future__ import annotations

import re
from typing import Any

TOKEN_SEGMENT = re.compile(r"(/[rucmp]/)[^/?]+")
PLACEHOLDER = "redacted"
"""What a log shows instead of a token (left as is by the URL quoting of access logs)."""


def token_free(path: str) -> str:
    """``path`` with the token segment of every ``/r/``, ``/u/``, ``/c/``, ``/m/`` and
    ``/p/`` replaced."""
    return TOKEN_SEGMENT.sub(rf"\g<1>{PLACEHOLDER}", path)


def _forget_tokens(scope: dict[str, Any]) -> None:
    scope["path"] = token_free(scope["path"])
    if "raw_path" in scope:
        scope["raw_path"] = token_free(scope["raw_path"].decode("latin-1")).encode("latin-1")


class TokenFreePaths:
    """ASGI middleware: the request's scope loses its tokens once the response starts (or
    the app fails), so any access log reading it then sees none."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_without_tokens(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                _forget_tokens(scope)
            await send(message)

        try:
            await self.app(scope, receive, send_without_tokens)
        except BaseException:
            _forget_tokens(scope)
            raise
