"""The response app's one-touch pages for owners (addresses in ``cx_tasks.implement.links``).

A GET shows the subject and a small form (acknowledge: a button; close: a required
resolution note; a milestone: a button), so a link scanner that only GETs changes
nothing; the POST does it and shows the result. A forged, expired or wrong-purpose token
gets the app's error page, a foreign one (the case unknown, or owned by someone else now),
a final case or a missing note the refusal page: nothing is stored. The pages are in the
language of the token's owner (``language`` in ``owners.yaml``; a token that does not verify
gets the browser's). The time of a change is the wall clock at the request (this is an edge).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from cx_tasks.config import Settings
from cx_tasks.feedback.acknowledgement import LinkSettings, excerpt
from cx_tasks.feedback.rules import owners
from cx_tasks.implement.cases import CaseRefused, act, get_case
from cx_tasks.implement.initiatives import MilestoneRefused, reach_milestone
from cx_tasks.implement.rules import implement_rules
from cx_tasks.surveys.catalogue import SurveyCatalogue
from cx_tasks.surveys.tokens import TokenClaims, verify
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import feedback

Render = Callable[..., HTMLResponse]
REFUSED_STATUS = {"unknown_case": 404, "foreign": 404, "final": 409, "transition": 409,
                  "note_required": 422}


def add_one_touch_routes(app: FastAPI, settings: Settings, catalogue: SurveyCatalogue,
                         render: Render, now: Callable[[], datetime]) -> None:
    """Add ``/c/{token}`` (cases) and ``/m/{token}`` (milestones) to the response app;
    ``render(name, language, status=..., **context)`` renders a page; ``now`` (the app's
    clock, aware UTC) checks link expiry and stamps what is stored."""

    def _now() -> datetime:
        return now().astimezone(UTC).replace(tzinfo=None)

    engine = engine_for(settings.warehouse_url)
    secret = settings.survey_secret
    rules = implement_rules(settings.rules_dir).cases
    links = LinkSettings(settings.survey_base_url, secret, catalogue)
    registry = owners(settings.rules_dir)

    def verified(request: Request, token: str, purpose: str) -> TokenClaims:
        """The token's claims; its owner's language then serves every page of the request."""
        claims = verify(token, secret, purpose=purpose, now=now())
        request.state.language = registry.language_of(claims.contact_id)
        return claims

    @app.exception_handler(CaseRefused)
    @app.exception_handler(MilestoneRefused)
    async def refused(request: Request, error: CaseRefused | MilestoneRefused) -> HTMLResponse:
        return render("one_touch_refused", request.state.language,
                      status=REFUSED_STATUS[error.reason], reason=error.reason)

    @app.get("/c/{token}", name="case_page")
    def case_page(request: Request, token: str) -> HTMLResponse:
        claims = verified(request, token, "case")
        context = _case_context(engine, claims)
        return render("one_touch", request.state.language,
                      action=_path(request, "case_action", token), result=None, **context)

    @app.post("/c/{token}", name="case_action")
    async def case_action(request: Request, token: str) -> HTMLResponse:
        claims = verified(request, token, "case")
        form = await request.form()
        note = form.get("note")
        status = "acknowledged" if claims.survey_id == "acknowledge" else "closed"
        changed = await run_in_threadpool(
            act, settings.warehouse_url, claims.invitation_id, status,
            actor=claims.contact_id, channel="link", now=_now(),
            note=note if isinstance(note, str) else None, owner=claims.contact_id,
            rules=rules, links=links)
        context = _case_context(engine, claims)
        return render("one_touch", request.state.language, action="",
                      result="changed" if changed else "unchanged", **context)

    @app.get("/m/{token}", name="milestone_page")
    def milestone_page(request: Request, token: str) -> HTMLResponse:
        claims = verified(request, token, "milestone")
        return render("one_touch", request.state.language,
                      action=_path(request, "milestone_action", token), result=None,
                      **_milestone_context(claims))

    @app.post("/m/{token}", name="milestone_action")
    def milestone_action(request: Request, token: str) -> HTMLResponse:
        claims = verified(request, token, "milestone")
        initiative_id, _, milestone_id = claims.invitation_id.rpartition("#")
        changed = reach_milestone(settings.warehouse_url, initiative_id, milestone_id,
                                  on=_now().date(), actor=claims.contact_id, channel="link",
                                  now=_now(), owner=claims.contact_id)
        return render("one_touch", request.state.language, action="",
                      result="changed" if changed else "unchanged",
                      **_milestone_context(claims))


def _case_context(engine: Engine, claims: TokenClaims) -> dict[str, Any]:
    """What a case page shows, its words left to the page's language (refused as foreign
    unless the token's owner owns it)."""
    with engine.connect() as conn:
        case = get_case(conn, claims.invitation_id)
        if case is None or case.owner != claims.contact_id:
            raise CaseRefused("foreign")
        text = conn.scalar(select(feedback.c.text)
                           .where(feedback.c.feedback_id == case.feedback_id))
    return {"kind": "case", "closing": claims.survey_id == "close", "case_id": case.case_id,
            "client_id": case.client_id, "trigger": case.trigger, "case_status": case.status,
            "opened_at": case.opened_at, "quote": excerpt(text)}


def _milestone_context(claims: TokenClaims) -> dict[str, Any]:
    """What a milestone page shows."""
    initiative_id, _, milestone_id = claims.invitation_id.rpartition("#")
    return {"kind": "milestone", "initiative_id": initiative_id, "milestone_id": milestone_id,
            "quote": None}


def _path(request: Request, name: str, token: str) -> str:
    return request.scope.get("root_path", "") + request.app.url_path_for(name, token=token)
