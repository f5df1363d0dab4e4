"""Key accounts at the table: before each working-group meeting (dates in ``adjust.yaml``), a
pack per key account: its feedback by role, its claims and how they were closed, the
initiatives that affect it and their measured effect, its NPS with an interval, the at-risk
lists' predictions that concern it (``at_risk.account_risks``) and the open questions.
Rendered once as HTML (the e-mail's body, ``mail/templates/en/working_group_pack``), printed
to PDF by headless Chromium, and sent to the key account team for the account manager
through the outbox (key ``pack:<client>:<meeting day>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from cx_tasks.adjust.at_risk import account_risks
from cx_tasks.adjust.effect import Effect, Initiative
from cx_tasks.adjust.staff import clustered_mean
from cx_tasks.collect.contract import ROLES
from cx_tasks.feedback.rules import Owners
from cx_tasks.mail.outbox import enqueue
from cx_tasks.mail.render import RenderedMail, render_mail
from cx_tasks.warehouse.frames import read_staging
from cx_tasks.warehouse.schema import findings, survey_answers, survey_responses
from cx_tasks.warehouse.times import midnight

PACK_KIND = "working_group_pack"


@dataclass(frozen=True)
class Pack:
    """What one key account's working group sees before its meeting."""

    client_id: str
    name: str
    manager: str
    meeting: date
    as_of: date
    roles: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    initiatives: list[dict[str, Any]]
    nps: dict[str, Any]
    open_questions: list[str] = field(default_factory=list)
    risks: list[dict[str, Any]] = field(default_factory=list)


def meetings_due(meetings: Sequence[date], as_of: date, days_before: int) -> list[date]:
    """The meetings a pack is due for on ``as_of``: from ``as_of`` to ``days_before`` later."""
    return [m for m in meetings if as_of <= m <= as_of + timedelta(days=days_before)]


def _answers(conn: Connection, client_id: str, since: datetime, until: datetime
             ) -> pd.DataFrame:
    joined = survey_answers.join(
        survey_responses, survey_answers.c.invitation_id == survey_responses.c.invitation_id)
    rows = conn.execute(
        select(survey_responses.c.contact_id, survey_responses.c.role,
               survey_responses.c.comment, survey_answers.c.question_id,
               survey_answers.c.score, survey_answers.c.answered_at)
        .select_from(joined)
        .where(survey_responses.c.client_id == client_id,
               survey_answers.c.answered_at >= since, survey_answers.c.answered_at < until)
    ).all()
    return pd.DataFrame(rows, columns=["contact_id", "role", "comment", "question_id", "score",
                                       "answered_at"])


def _nps(points: pd.DataFrame, confidence: float) -> dict[str, Any]:
    """NPS of the answers (points +100/0/-100) with its interval clustered by contact."""
    if points.empty:
        return {"value": None, "low": None, "high": None, "answers": 0}
    value, low, high = clustered_mean(points["points"].to_numpy(dtype=float),
                                      points["contact_id"].to_numpy(), confidence)
    return {"value": value, "low": None if np.isnan(low) else low,
            "high": None if np.isnan(high) else high, "answers": len(points)}


def build_pack(conn: Connection, client_id: str, meeting: date, as_of: date,
               initiatives: Sequence[Initiative], effects: Sequence[Effect],
               question_kinds: dict[str, str], days: int = 365, confidence: float = 0.95,
               risks: pd.DataFrame | None = None) -> Pack:
    """The pack of ``client_id`` for ``meeting`` from what is known by ``as_of`` (midnight):
    answers and claims of the last ``days`` days, every open claim and finding, and the
    at-risk lists' rows (``risks``, already ``at_risk.listed``) about it or its manager."""
    until, since = midnight(as_of), midnight(as_of - timedelta(days=days))
    clients = read_staging(conn, "erp_clients", ["client_id", "name", "account_manager"])
    client = clients[clients["client_id"] == client_id].iloc[0]
    answers = _answers(conn, client_id, since, until)
    kind = answers["question_id"].map(question_kinds)
    nps = answers[kind == "nps"].assign(
        points=lambda a: 100.0 * (a["score"] >= 9) - 100.0 * (a["score"] <= 6))
    roles = []
    for role in ROLES:
        mine = answers[answers["role"] == role]
        comments = mine.dropna(subset=["comment"]).drop_duplicates("comment")
        roles.append({"role": role, "answers": int(mine["contact_id"].nunique()),
                      "nps": _nps(nps[nps["role"] == role], confidence),
                      "comments": comments.sort_values("answered_at")["comment"].tail(3).tolist()})
    claims = read_staging(conn, "sd_claims", ["claim_id", "client_id", "opened_at",
                                              "closed_at", "text"])
    claims = claims[(claims["client_id"] == client_id) & (claims["opened_at"] < until)
                    & ((claims["opened_at"] >= since) | claims["closed_at"].isna()
                       | (claims["closed_at"] >= until))]
    claim_rows = [{"claim_id": c.claim_id, "opened": c.opened_at.date(), "text": c.text,
                   "closed": None if pd.isna(c.closed_at) or c.closed_at >= until
                   else c.closed_at.date(),
                   "days": None if pd.isna(c.closed_at) or c.closed_at >= until
                   else round((c.closed_at - c.opened_at) / pd.Timedelta(days=1), 1)}
                  for c in claims.sort_values("opened_at").itertuples()]
    by_key = {(e.initiative_id, e.metric): e for e in effects}
    touching = [{"id": i.id, "owner": i.owner, "start": i.start, "metric": i.target_metric,
                 "effect": by_key.get((i.id, i.target_metric))}
                for i in initiatives if client_id in i.clients]
    open_findings = conn.execute(select(findings.c.summary).where(
        findings.c.client_id == client_id, findings.c.found_on <= as_of)).scalars().all()
    questions = [f"Claim {c['claim_id']} opened {c['opened']} is still open"
                 for c in claim_rows if c["closed"] is None]
    questions += list(open_findings)
    questions += [f"Initiative {t['id']} shows no measurable effect on {t['metric']} yet"
                  for t in touching if t["effect"] is None or not t["effect"].measurable]
    manager = client["account_manager"] or None
    concerning = account_risks(risks if risks is not None else pd.DataFrame(), client_id,
                               manager)
    questions += [f"At risk: {r['what']} ({r['probability']:.0%})" for r in concerning]
    return Pack(client_id, str(client["name"]), str(manager or "-"), meeting, as_of, roles,
                claim_rows, touching, _nps(nps, confidence), questions, concerning)


def render_pack(pack: Pack) -> RenderedMail:
    """The pack as the e-mail (subject, text) and its HTML (also the PDF's source)."""
    return render_mail(PACK_KIND, "en", {"pack": pack})


def pack_key(client_id: str, meeting: date) -> str:
    """The outbox key of a pack: one per key account and meeting."""
    return f"pack:{client_id}:{meeting.isoformat()}"


def send_pack(conn: Connection, pack: Pack, mail: RenderedMail, pdf: Path, owners: Owners,
              now: datetime) -> bool:
    """Enqueue the pack to the key account team (for the account manager); True if new."""
    _, team, _ = owners.for_source("informal")
    return enqueue(conn, idempotency_key=pack_key(pack.client_id, pack.meeting),
                   kind=PACK_KIND, recipient=team.email, subject=mail.subject,
                   body_text=f"{mail.text}\nPDF: {pdf}\n", body_html=mail.html,
                   created_at=now)
