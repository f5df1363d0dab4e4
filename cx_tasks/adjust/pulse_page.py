"""The response app's page for a staff member's pulse link (``/p/<token>?score=N``, made by
``pulse.pulse_link``).

A GET shows the chosen answer and a button, so a link scanner that only GETs stores nothing;
the POST stores the answer (``pulse.record_pulse_answers``, channel ``link``: a later click
of the same quarter replaces it) and says so. A forged, expired or wrong-purpose token, or a
score outside 1-5, gets the app's error page and stores nothing. The page speaks the person's
language (``hr_staff.language``, English when unknown); the time of an answer is the app's
clock at the request (this is an edge).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, select

from cx_tasks.adjust.pulse import QUESTION, record_pulse_answers
from cx_tasks.config import Settings
from cx_tasks.surveys.tokens import TokenClaims, verify
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import STAGING

Render = Callable[..., HTMLResponse]


def add_pulse_routes(app: FastAPI, settings: Settings, render: Render,
                     now: Callable[[], datetime]) -> None:
    """Add ``/p/{token}`` (GET: confirm, POST: store) to the response app; ``render`` renders
    a page, ``now`` (aware UTC) checks the link's expiry and stamps the answer."""
    engine = engine_for(settings.warehouse_url)
    secret = settings.survey_secret

    @app.get("/p/{token}", name="pulse_page")
    def pulse_page(request: Request, token: str, score: int) -> HTMLResponse:
        claims = verify(token, secret, purpose="pulse", now=now(), score=score)
        action = (request.scope.get("root_path", "")
                  + request.app.url_path_for("pulse_answer", token=token) + f"?score={score}")
        language, facts = _context(engine, claims, score)
        return render("pulse", language, action=action, result=None, **facts)

    @app.post("/p/{token}", name="pulse_answer")
    def pulse_answer(token: str, score: int) -> HTMLResponse:
        claims = verify(token, secret, purpose="pulse", now=now(), score=score)
        moment = now().astimezone(UTC).replace(tzinfo=None)
        with engine.begin() as conn:
            record_pulse_answers(conn, [{"staff_id": claims.contact_id, "score": score,
                                         "answered_at": moment}], "link")
        language, facts = _context(engine, claims, score)
        return render("pulse", language, action="", result="changed", **facts)


def _context(engine: Engine, claims: TokenClaims, score: int) -> tuple[str, dict[str, object]]:
    """The page's language (the person's, else English) and its facts: the question in that
    language, the quarter's first day and the chosen score."""
    staff = STAGING["hr_staff"]
    with engine.connect() as conn:
        language = conn.scalar(select(staff.c.language).where(
            staff.c.staff_id == claims.contact_id))
    language = language if language in QUESTION else "en"
    return language, {"question": QUESTION[language],
                      "quarter": claims.invitation_id.rpartition(":")[2], "score": score}
