"""The response app (FastAPI): the addresses of ``cx_tasks.surveys.links`` as plain HTML pages.

A click records its score and shows the rest of the survey as a form; submitting the form
stores it and thanks the client with what was stored. The unsubscribe link shows a page
whose button POSTs (link scanners only GET, so they unsubscribe nobody); a mail program's
one-click ``List-Unsubscribe`` POSTs directly. A refused token or answer gets an error
page with its HTTP status (``STATUS``) and stores nothing. Pages come from the templates in
``pages/<language>/`` (autoescaped) in the invitation's language, or the browser's when the
invitation is unknown. ``on_feedback`` hears the feedback ids written, after the commit and
after the page is sent; if it fails the response stays stored (the next run picks it up).

Time: the app is an edge of the system, so its clock defaults to the wall clock (link
expiry and the moment an answer is stored are "now" for a client clicking); ``now`` replaces
it, e.g. for the demo pinned to a past period, whose links were issued in simulated time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from cx_tasks.adjust.pulse_page import add_pulse_routes
from cx_tasks.collect.contract import LANGUAGES
from cx_tasks.config import Settings
from cx_tasks.implement.one_touch import add_one_touch_routes
from cx_tasks.mail.supplier import Supplier, supplier
from cx_tasks.surveys.catalogue import SurveyCatalogue, survey_catalogue
from cx_tasks.surveys.log_paths import TokenFreePaths, token_free
from cx_tasks.surveys.responses import (
    Invitation,
    Response,
    ResponseRefused,
    contact_language,
    invitation_for,
    record_form,
    record_score,
    response_of,
    scored_questions,
    survey_of,
    unsubscribe,
)
from cx_tasks.surveys.tokens import InvalidToken, TokenClaims, verify
from cx_tasks.warehouse.db import engine_for

log = logging.getLogger(__name__)

FeedbackListener = Callable[[list[str]], None]
T = TypeVar("T")

STATUS = {"malformed": 400, "encoding": 400, "forged": 403, "purpose": 403, "expired": 410,
          "foreign": 404, "score": 422, "unknown_question": 422, "comment_too_long": 422,
          "comment_characters": 422, "no_score": 422}
"""HTTP status of the error page per refusal reason (``InvalidToken``, ``ResponseRefused``)."""
FRAMEWORK_REASONS = {404: "not_found", 405: "method", 500: "server"}
"""The error page's reason for the framework's own answers (any other status: ``request``)."""
FORM_TYPE = "application/x-www-form-urlencoded"
"""The one encoding of a submitted form: what the survey's page sends, read as strict UTF-8."""

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'",
}
"""Sent with every page: tokens are in the address, so it must leak nowhere (no referrer,
no cache, no frames, no scripts)."""

FALLBACK_LANGUAGE = "en"

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, in UTC (the response app's default clock: it answers real clicks)."""
    return datetime.now(UTC)


def create_app(settings: Settings, on_feedback: FeedbackListener | None = None, *,
               catalogue: SurveyCatalogue | None = None, now: Clock = wall_clock) -> FastAPI:
    """The response app over the warehouse and survey secret of ``settings``; ``now`` (aware
    UTC) checks link expiry and stamps what is stored."""
    catalogue = catalogue or survey_catalogue(settings.rules_dir)
    engine = engine_for(settings.warehouse_url)
    secret = settings.survey_secret
    pages = _Pages(catalogue, supplier(settings.rules_dir))
    app = FastAPI(title="CX Loop survey responses", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.settings = settings
    app.add_middleware(TokenFreePaths)

    def in_transaction(request: Request, claims: TokenClaims,
                       work: Callable[[Connection, Invitation], T]) -> tuple[Invitation, T]:
        """``work`` in one transaction, once the token's invitation is known (its language
        then serves any error page)."""
        with engine.begin() as conn:
            invitation = invitation_for(conn, claims)
            request.state.language = _language(invitation.language)
            return invitation, work(conn, invitation)

    def unsubscribing(request: Request, claims: TokenClaims,
                      work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction, once the token's contact is known (their language
        then serves any error page)."""
        with engine.begin() as conn:
            request.state.language = _language(contact_language(conn, claims))
            return work(conn)

    def announce(feedback_ids: list[str]) -> None:
        if on_feedback is None or not feedback_ids:
            return
        try:
            on_feedback(feedback_ids)
        except Exception:  # noqa: BLE001 - the response is stored; a listener never undoes it
            log.exception("feedback %s stored; telling its listener failed", feedback_ids)

    @app.exception_handler(InvalidToken)
    @app.exception_handler(ResponseRefused)
    async def refused(request: Request, error: Exception) -> HTMLResponse:
        reason = getattr(error, "reason", "malformed")
        language = getattr(request.state, "language", None) or _browser_language(request)
        return pages.render("error", language, status=STATUS[reason], reason=reason)

    @app.exception_handler(StarletteHTTPException)
    @app.exception_handler(RequestValidationError)
    @app.exception_handler(Exception)
    async def framework(request: Request, error: Exception) -> HTMLResponse:
        """The framework's own answers (no route, wrong method, a server error) as the error
        page, with the same headers as every page."""
        status = getattr(error, "status_code", 422 if isinstance(
            error, RequestValidationError) else 500)
        if status == 500:
            log.error("response app failed on %s %s: %s", request.method,
                      token_free(request.url.path), type(error).__name__)
        return pages.render("error", _browser_language(request), status=status,
                            reason=FRAMEWORK_REASONS.get(status, "request"))

    @app.get("/r/{token}", name="answer")
    def answer(request: Request, token: str, background: BackgroundTasks,
               score: str | None = None) -> HTMLResponse:
        claims = verify(token, secret, purpose="answer", now=now())
        chosen = _score(score)

        def store(conn: Connection, invitation: Invitation) -> tuple[list[str], Response]:
            ids = record_score(conn, claims, chosen, now(), catalogue=catalogue)
            return ids, _stored(conn, invitation)

        invitation, (ids, stored) = in_transaction(request, claims, store)
        background.add_task(announce, ids)
        survey = survey_of(invitation, catalogue)
        language = request.state.language
        questions = [{"id": q, "text": catalogue.questions[q].text[language],
                      "scores": range(*_inclusive(catalogue.questions[q].scale)),
                      "selected": stored.scores.get(q)}
                     for q in scored_questions(survey, catalogue) if q != claims.question_id]
        comment_question = next(catalogue.questions[q] for q in survey.questions
                                if catalogue.questions[q].kind == "comment")
        return pages.render(
            "form", language, action=_path(request, "submit", token=token),
            questions=questions, comment=stored.comment,
            comment_question=comment_question.text[language])

    @app.post("/r/{token}", name="submit")
    async def submit(request: Request, token: str, background: BackgroundTasks) -> HTMLResponse:
        claims = verify(token, secret, purpose="answer", now=now())
        answers, comment = _form_answers(await _utf8_form(request))

        def store(conn: Connection, invitation: Invitation) -> tuple[list[str], Response]:
            ids = record_form(conn, claims, answers, comment, now(),
                              catalogue=catalogue)
            return ids, _stored(conn, invitation)

        invitation, (ids, stored) = await run_in_threadpool(in_transaction, request, claims,
                                                            store)
        background.add_task(announce, ids)
        survey = survey_of(invitation, catalogue)
        language = request.state.language
        answered = [{"text": catalogue.questions[q].text[language], "score": stored.scores[q]}
                    for q in scored_questions(survey, catalogue) if q in stored.scores]
        return pages.render("thanks", language, answers=answered, comment=stored.comment)

    @app.get("/u/{token}", name="unsubscribe_page")
    def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
        claims = verify(token, secret, purpose="unsubscribe", now=now())
        unsubscribing(request, claims, lambda conn: None)
        return pages.render("unsubscribe", request.state.language,
                            action=_path(request, "unsubscribe", token=token))

    @app.post("/u/{token}", name="unsubscribe")
    async def unsubscribe_post(request: Request, token: str) -> HTMLResponse:
        claims = verify(token, secret, purpose="unsubscribe", now=now())
        form = await request.form()
        channel = ("list_unsubscribe" if form.get("List-Unsubscribe") == "One-Click"
                   else "email_link")
        await run_in_threadpool(unsubscribing, request, claims, lambda conn: unsubscribe(
            conn, claims, channel, now()))
        return pages.render("unsubscribed", request.state.language)

    add_one_touch_routes(app, settings, catalogue, pages.render, now)
    add_pulse_routes(app, settings, pages.render, now)
    return app


class _Pages:
    """The page templates (``pages/<language>/NAME.html.j2``), autoescaped; each names the
    supplier (``rules/supplier.yaml``)."""

    def __init__(self, catalogue: SurveyCatalogue, sender: Supplier) -> None:
        self.env = Environment(loader=PackageLoader("cx_tasks.surveys", "pages"),
                               autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                               lstrip_blocks=True)
        self.common = {"comment_max_chars": catalogue.comment_max_chars, "supplier": sender}

    def render(self, name: str, language: str, *, status: int = 200,
               **context: Any) -> HTMLResponse:
        """Page ``name`` in ``language`` as an HTML response with ``HEADERS``."""
        template = self.env.get_template(f"{language}/{name}.html.j2")
        html = template.render({**self.common, "language": language, **context})
        return HTMLResponse(html, status_code=status, headers=HEADERS)


def _path(request: Request, name: str, **params: str) -> str:
    """The path of this app's route ``name``, below wherever the app is mounted."""
    return request.scope.get("root_path", "") + request.app.url_path_for(name, **params)


def _stored(conn: Connection, invitation: Invitation) -> Response:
    """The invitation's response just written."""
    stored = response_of(conn, invitation.invitation_id)
    assert stored is not None
    return stored


SCORE_DIGITS = 3
"""Most digits a score may have (plain ASCII ``0``-``9``; the widest scale is 0-10)."""


def _score(text: str | None) -> int:
    """The score of a link's ``score`` parameter or a form field: plain ASCII digits only
    (``٥``, ``３``, ``+3``, `` 3``, ``0_3`` are refused, though ``int`` reads them)."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > SCORE_DIGITS:
        raise ResponseRefused("score")
    return int(text)


async def _utf8_form(request: Request) -> list[tuple[str, str]]:
    """The submitted form's fields, its bytes decoded strictly as UTF-8 (raw or
    percent-encoded): bytes that are not UTF-8, or another encoding than ``FORM_TYPE``, are
    refused (``encoding``), never stored as replacement characters or mojibake."""
    if request.headers.get("content-type", FORM_TYPE).split(";")[0].strip() != FORM_TYPE:
        raise ResponseRefused("encoding")
    try:
        return parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True,
                         encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ResponseRefused("encoding") from None


def _form_answers(fields: list[tuple[str, str]]) -> tuple[dict[str, int], str | None]:
    """Scores by question id from the ``q_<question id>`` fields (blank ones left out) and
    the ``comment`` field (None when the form has none: the stored comment stays)."""
    answers = {key.removeprefix("q_"): _score(value) for key, value in fields
               if key.startswith("q_") and value != ""}
    comments = [value for key, value in fields if key == "comment"]
    return answers, comments[-1] if comments else None


def _inclusive(scale: tuple[int, int] | None) -> tuple[int, int]:
    """``range`` arguments covering a question's scale, both ends included."""
    low, high = scale or (0, -1)
    return low, high + 1


def _language(language: str | None) -> str:
    """A shipped language: the given one, else English."""
    return language if language in LANGUAGES else FALLBACK_LANGUAGE


def _browser_language(request: Request) -> str:
    """The first shipped language the browser's ``Accept-Language`` names, else English."""
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().split("-")[0].lower()
        if tag in LANGUAGES:
            return tag
    return FALLBACK_LANGUAGE

