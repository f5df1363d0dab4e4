"""Paths without tokens (issue 14, section 2): what an access log may show of a link."""

from __future__ import annotations

import asyncio

import pytest

from cx_tasks.surveys.log_paths import TokenFreePaths, token_free


@pytest.mark.parametrize(("path", "logged"), [
    ("/r/eyJhIjoxfQ.c2ln", "/r/redacted"),
    ("/cx-surveys/u/eyJhIjoxfQ.c2ln", "/cx-surveys/u/redacted"),
    ("/r/eyJhIjoxfQ.c2ln/extra", "/r/redacted/extra"),
    # an owner's one-touch links (issue 16) are keys too: a case, a milestone
    ("/c/eyJhIjoxfQ.c2ln", "/c/redacted"),
    ("/cx-surveys/m/eyJhIjoxfQ.c2ln", "/cx-surveys/m/redacted"),
    # a staff member's pulse link (issue 18)
    ("/p/eyJhIjoxfQ.c2ln", "/p/redacted"),
    ("/health", "/health"),
    ("/cx/kpis", "/cx/kpis"),
])
def test_the_token_segment_is_replaced(path: str, logged: str) -> None:
    assert token_free(path) == logged


def test_a_failing_app_leaves_no_token_in_the_scope() -> None:
    """The server logs the request of a 500 from the scope after the app raised."""

    async def failing(scope, receive, send) -> None:
        raise RuntimeError("boom")

    scope = {"type": "http", "path": "/r/eyJhIjoxfQ.c2ln", "raw_path": b"/r/eyJhIjoxfQ.c2ln"}
    with pytest.raises(RuntimeError):
        asyncio.run(TokenFreePaths(failing)(scope, None, None))
    assert (scope["path"], scope["raw_path"]) == ("/r/redacted", b"/r/redacted")
