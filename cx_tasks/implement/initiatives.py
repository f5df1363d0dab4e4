"""The initiatives register: the slow loop from a cause many clients complain about to an
improvement with an owner, milestones and the clients it answers.

Proposed automatically (``propose``) from the day's analysis: each process class in a
segment's vital few of complaints (Pareto, ``initiatives.window_days``, at least
``min_complaints``) and each process class a drill-down names as the main cause of a
client's fall. At most one open initiative (proposed, approved, in progress) per process
class and segment; a rejected one is not proposed again for ``cool_down_days``. Each
proposal carries its evidence (complaints, affected revenue, share, the clients, the
drill-downs' metrics), the expected effect, its owner (``owners.yaml``), the milestones
of ``implement.yaml`` and its links: the findings and the feedback it answers (the
affected clients are the distinct clients of those links).

Statuses (each change is a row of ``initiative_history``)::

    proposed ──approve──► approved ──first milestone──► in_progress ──last──► done
       │                      └──────────────drop (reason)──────────────────► dropped
       └──reject (reason)──► rejected          (cool-down before the same proposal returns)

Approval comes through Airflow (the ``cx_implement_approval`` DAG's form), ``cx initiatives
approve|reject`` or the decisions file (``decisions.py``); milestones advance through the
same paths and the owner's one-touch link. Approval plans each milestone on the approval
day + its ``days_after_approval``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, select, update

from cx_tasks.analyze.pareto import ALL_SEGMENTS, period_of, process_label
from cx_tasks.feedback.rules import Owners
from cx_tasks.implement.links import LinkKeys, milestone_link
from cx_tasks.implement.rules import InitiativeRules
from cx_tasks.mail.outbox import enqueue
from cx_tasks.mail.render import render_mail
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import (
    STAGING,
    drilldown,
    feedback,
    feedback_classes,
    findings,
    initiative_history,
    initiative_links,
    initiative_milestones,
    initiatives,
    pareto_causes,
)

OWNER_KIND = "initiative"
"""Outbox kind of the e-mail telling an owner their initiative was approved."""
OPEN = ("proposed", "approved", "in_progress")
"""Statuses of an open initiative: at most one per process class and segment."""
MILESTONE_PREFIX = "milestone:"
"""The status of an ``initiative_history`` row recording a milestone reached:
``milestone:<id>``."""
Decision = Literal["approve", "reject", "drop"]
Channel = Literal["pipeline", "airflow", "cli", "file", "link"]


class MilestoneRefused(ValueError):
    """A decision or milestone that must not be recorded; ``reason`` says why."""

    def __init__(self, reason: Literal["foreign", "transition", "note_required",
                                       "unknown_milestone"]):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Proposal:
    """A process class in a segment worth an initiative, with its evidence."""

    segment: str
    process_class: str
    complaints: int
    revenue: float
    share: float
    clients: tuple[str, ...]
    drilldown_metrics: tuple[str, ...]


def initiative_id_of(segment: str, process_class: str, proposed_on: date) -> str:
    """``init:<segment>:<process class>:<proposed day>``."""
    return f"init:{segment}:{process_class}:{proposed_on.isoformat()}"


def pareto_proposals(conn: Connection, as_of: date, rules: InitiativeRules) -> list[Proposal]:
    """The vital few of each segment's complaints in the window ending at ``as_of`` with at
    least ``min_complaints``, plus the drill-downs' main causes of that day (per the
    client's segment), one proposal per segment and process class."""
    start, end = period_of(as_of, rules.window_days)
    counts = {(r.segment, r.process_class): r for r in conn.execute(
        select(pareto_causes).where(
            pareto_causes.c.period_start == start, pareto_causes.c.period_end == end,
            pareto_causes.c.measure == "count", pareto_causes.c.segment != ALL_SEGMENTS))}
    revenue = {(r.segment, r.process_class): r.revenue for r in conn.execute(
        select(pareto_causes).where(
            pareto_causes.c.period_start == start, pareto_causes.c.period_end == end,
            pareto_causes.c.measure == "revenue"))}
    chosen = {key for key, r in counts.items()
              if r.vital_few and r.complaints >= rules.min_complaints}
    clients_of = _complaining_clients(conn, start, end)
    clients = STAGING["erp_clients"]
    drills: dict[tuple[str, str], tuple[set[str], set[str]]] = defaultdict(
        lambda: (set(), set()))
    for row in conn.execute(
            select(drilldown.c.client_id, drilldown.c.process_class, drilldown.c.metric,
                   clients.c.segment)
            .outerjoin(clients, clients.c.client_id == drilldown.c.client_id)
            .where(drilldown.c.as_of == as_of, drilldown.c.rank == 1,
                   drilldown.c.process_class.is_not(None), clients.c.segment.is_not(None))):
        key = (row.segment, row.process_class)
        drills[key][0].add(row.client_id)
        if row.metric:
            drills[key][1].add(row.metric)
    proposals = []
    for key in sorted(chosen | set(drills)):
        count = counts.get(key)
        drilled_clients, metrics = drills.get(key, (set(), set()))
        proposals.append(Proposal(
            segment=key[0], process_class=key[1],
            complaints=count.complaints if count else 0,
            revenue=float(revenue.get(key, 0.0)), share=float(count.share) if count else 0.0,
            clients=tuple(sorted(clients_of.get(key, set()) | drilled_clients)),
            drilldown_metrics=tuple(sorted(metrics))))
    return proposals


def _complaining_clients(conn: Connection, start: date, end: date) -> dict[tuple[str, str],
                                                                          set[str]]:
    """Clients per (segment, process class) with classified complaints in ``[start, end)``."""
    clients = STAGING["erp_clients"]
    rows = conn.execute(
        select(clients.c.segment, feedback_classes.c.process_class, feedback.c.client_id)
        .join(feedback, feedback.c.feedback_id == feedback_classes.c.feedback_id)
        .join(clients, clients.c.client_id == feedback.c.client_id)
        .where(feedback_classes.c.status.in_(("classified", "reviewed")),
               feedback_classes.c.process_class.is_not(None),
               feedback.c.occurred_at >= datetime.combine(start, datetime.min.time()),
               feedback.c.occurred_at < datetime.combine(end, datetime.min.time()))
        .distinct())
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for segment, process_class, client in rows:
        found[(segment, process_class)].add(client)
    return found


def blocked(conn: Connection, segment: str, process_class: str, as_of: date,
            cool_down_days: int) -> str | None:
    """Why no new proposal for this segment and class: ``open`` (one is proposed, approved
    or in progress) or ``cool_down`` (rejected less than ``cool_down_days`` before)."""
    same = and_(initiatives.c.segment == segment, initiatives.c.process_class == process_class)
    if conn.scalar(select(func.count()).select_from(initiatives)
                   .where(same, initiatives.c.status.in_(OPEN))):
        return "open"
    since = datetime.combine(as_of - timedelta(days=cool_down_days), datetime.min.time())
    if conn.scalar(select(func.count()).select_from(initiatives)
                   .where(same, initiatives.c.status == "rejected",
                          initiatives.c.decided_at > since)):
        return "cool_down"
    return None


def propose(warehouse_url: str, as_of: date, *, rules: InitiativeRules,
            owners: Owners) -> list[str]:
    """Store a proposal for every Pareto/drill-down cause not blocked (``blocked``) as of
    ``as_of``, with its links and milestones; return the ids proposed."""
    proposed: list[str] = []
    start, end = period_of(as_of, rules.window_days)
    at = datetime.combine(as_of, datetime.min.time())
    with engine_for(warehouse_url).begin() as conn:
        for proposal in pareto_proposals(conn, as_of, rules):
            if blocked(conn, proposal.segment, proposal.process_class, as_of,
                       rules.cool_down_days):
                continue
            initiative_id = initiative_id_of(proposal.segment, proposal.process_class, as_of)
            process = owners.by_process.get(proposal.process_class)
            label = process_label(proposal.process_class)
            row = {
                "initiative_id": initiative_id,
                "title": f"{label}: fewer complaints from {proposal.segment}",
                "process_class": proposal.process_class, "segment": proposal.segment,
                "owner": process.owner if process else None,
                "owner_person": process.person.name if process else None,
                "sponsor": None, "status": "proposed", "proposed_on": as_of,
                "decided_at": None, "decided_by": None, "reason": None,
                "evidence": json.dumps({
                    "complaints": proposal.complaints, "revenue": round(proposal.revenue, 2),
                    "share": round(proposal.share, 4), "clients": list(proposal.clients),
                    "drilldown_metrics": list(proposal.drilldown_metrics),
                    "window": [start.isoformat(), end.isoformat()]}, sort_keys=True),
                "expected_effect": json.dumps({
                    "metric": f"complaints:{proposal.process_class}", "direction": "down",
                    "size_percent": rules.expected_effect_points,
                    "by": (as_of + timedelta(days=rules.expected_effect_days)).isoformat()},
                    sort_keys=True),
            }
            if insert_if_absent(conn, initiatives, [row]) != 1:
                continue
            _link(conn, initiative_id, proposal, start, end)
            insert_if_absent(conn, initiative_milestones, [{
                "initiative_id": initiative_id, "milestone_id": m.id, "position": i,
                "title_en": m.title.get("en", m.id), "title_ru": m.title.get("ru", m.id),
                "planned_on": None, "reached_on": None, "client_visible": m.client_visible,
            } for i, m in enumerate(rules.milestones)])
            _history(conn, initiative_id, at, "proposed", None, "cx_implement", "pipeline",
                     f"{proposal.complaints} complaints, {len(proposal.clients)} clients")
            proposed.append(initiative_id)
    return proposed


def _link(conn: Connection, initiative_id: str, proposal: Proposal, start: date,
          end: date) -> None:
    """Link the findings and the feedback the proposal answers."""
    clients = STAGING["erp_clients"]
    found = conn.execute(
        select(findings.c.finding_id, findings.c.client_id)
        .outerjoin(clients, clients.c.client_id == findings.c.client_id)
        .where(findings.c.process_class == proposal.process_class,
               func.coalesce(findings.c.segment, clients.c.segment) == proposal.segment))
    said = conn.execute(
        select(feedback.c.feedback_id, feedback.c.client_id)
        .join(feedback_classes, feedback_classes.c.feedback_id == feedback.c.feedback_id)
        .join(clients, clients.c.client_id == feedback.c.client_id)
        .where(feedback_classes.c.status.in_(("classified", "reviewed")),
               feedback_classes.c.process_class == proposal.process_class,
               clients.c.segment == proposal.segment,
               feedback.c.occurred_at >= datetime.combine(start, datetime.min.time()),
               feedback.c.occurred_at < datetime.combine(end, datetime.min.time())))
    rows = [{"initiative_id": initiative_id, "kind": "finding", "ref_id": f, "client_id": c}
            for f, c in found]
    rows += [{"initiative_id": initiative_id, "kind": "feedback", "ref_id": f, "client_id": c}
             for f, c in said]
    if rows:
        insert_if_absent(conn, initiative_links, rows)


def _history(conn: Connection, initiative_id: str, at: datetime, status: str,
             previous: str | None, actor: str, channel: str, note: str | None) -> None:
    insert_if_absent(conn, initiative_history, [{
        "initiative_id": initiative_id, "changed_at": at, "status": status,
        "previous": previous, "actor": actor, "channel": channel, "note": note}])


def get_initiative(conn: Connection, initiative_id: str) -> dict[str, Any] | None:
    """The stored initiative as a dict, or None."""
    row = conn.execute(select(initiatives).where(
        initiatives.c.initiative_id == initiative_id)).mappings().first()
    return dict(row) if row is not None else None


def decide(conn: Connection, initiative_id: str, decision: Decision, *, actor: str,
           channel: Channel, now: datetime, reason: str | None = None,
           sponsor: str | None = None, milestones_planned: dict[str, date] | None = None,
           rules: InitiativeRules) -> bool:
    """Approve, reject or drop ``initiative_id`` at ``now``; False when it already has that
    outcome. Approving plans the milestones (approval day + their days, or
    ``milestones_planned``); rejecting and dropping need a reason."""
    current = get_initiative(conn, initiative_id)
    if current is None:
        raise MilestoneRefused("foreign")
    target = {"approve": "approved", "reject": "rejected", "drop": "dropped"}[decision]
    if current["status"] == target or (decision == "approve"
                                       and current["status"] in ("in_progress", "done")):
        return False
    allowed = {"approve": ("proposed",), "reject": ("proposed",),
               "drop": ("proposed", "approved", "in_progress")}[decision]
    if current["status"] not in allowed:
        raise MilestoneRefused("transition")
    reason = " ".join((reason or "").split()) or None
    if decision != "approve" and reason is None:
        raise MilestoneRefused("note_required")
    values: dict[str, Any] = {"status": target, "decided_at": now, "decided_by": actor,
                              "reason": reason}
    if sponsor:
        values["sponsor"] = sponsor
    conn.execute(update(initiatives).where(initiatives.c.initiative_id == initiative_id)
                 .values(**values))
    if decision == "approve":
        planned = {m.id: now.date() + timedelta(days=m.days_after_approval)
                   for m in rules.milestones}
        planned.update(milestones_planned or {})
        for milestone_id, day in planned.items():
            conn.execute(update(initiative_milestones).where(
                initiative_milestones.c.initiative_id == initiative_id,
                initiative_milestones.c.milestone_id == milestone_id).values(planned_on=day))
    _history(conn, initiative_id, now, target, current["status"], actor, channel, reason)
    return True


def reach(conn: Connection, initiative_id: str, milestone_id: str, *, on: date, actor: str,
          channel: Channel, now: datetime, owner: str | None = None) -> bool:
    """Record ``milestone_id`` of an approved initiative reached ``on``; False when it
    already was. The first milestone moves it to in_progress, the last to done. ``owner``
    (a one-touch link) must be the initiative's owner."""
    current = get_initiative(conn, initiative_id)
    if current is None or (owner is not None and owner != current["owner"]):
        raise MilestoneRefused("foreign")
    if current["status"] not in ("approved", "in_progress"):
        raise MilestoneRefused("transition")
    steps = {r.milestone_id: r.reached_on for r in conn.execute(
        select(initiative_milestones.c.milestone_id, initiative_milestones.c.reached_on)
        .where(initiative_milestones.c.initiative_id == initiative_id))}
    if milestone_id not in steps:
        raise MilestoneRefused("unknown_milestone")
    if steps[milestone_id] is not None:
        return False
    conn.execute(update(initiative_milestones).where(
        initiative_milestones.c.initiative_id == initiative_id,
        initiative_milestones.c.milestone_id == milestone_id).values(reached_on=on))
    _history(conn, initiative_id, now, f"{MILESTONE_PREFIX}{milestone_id}", current["status"],
             actor, channel, on.isoformat())
    left = [m for m, reached in steps.items() if reached is None and m != milestone_id]
    status = "done" if not left else "in_progress"
    if status != current["status"]:
        conn.execute(update(initiatives).where(initiatives.c.initiative_id == initiative_id)
                     .values(status=status))
        _history(conn, initiative_id, now, status, current["status"], actor, channel, None)
    return True


def reach_milestone(warehouse_url: str, initiative_id: str, milestone_id: str, *, on: date,
                    actor: str, channel: Channel, now: datetime,
                    owner: str | None = None) -> bool:
    """``reach`` in its own transaction."""
    with engine_for(warehouse_url).begin() as conn:
        return reach(conn, initiative_id, milestone_id, on=on, actor=actor, channel=channel,
                     now=now, owner=owner)


def awaiting_decision(conn: Connection) -> list[dict[str, Any]]:
    """Proposals without a decision, oldest first."""
    return [dict(r) for r in conn.execute(
        select(initiatives).where(initiatives.c.status == "proposed")
        .order_by(initiatives.c.proposed_on, initiatives.c.initiative_id)).mappings()]


def tell_owners(warehouse_url: str, *, now: datetime, owners: Owners, keys: LinkKeys,
                valid_hours: int) -> int:
    """E-mail the owner of every approved or running initiative once (outbox
    ``initiative:<id>:approved``), in the owner's language: its milestones with a one-touch
    link each to record it reached. Return the e-mails enqueued."""
    sent = 0
    with engine_for(warehouse_url).begin() as conn:
        running = conn.execute(select(initiatives).where(
            initiatives.c.status.in_(("approved", "in_progress")),
            initiatives.c.owner.is_not(None))).mappings().all()
        for row in running:
            process = owners.by_process.get(row["process_class"])
            if process is None:
                continue
            at = row["decided_at"] or now
            steps = [{"title": {"en": m.title_en, "ru": m.title_ru},
                      "planned_on": m.planned_on,
                      "reached_on": m.reached_on, "client_visible": m.client_visible,
                      "url": milestone_link(keys, row["initiative_id"], m.milestone_id,
                                            row["owner"], at, valid_hours)}
                     for m in conn.execute(select(initiative_milestones).where(
                         initiative_milestones.c.initiative_id == row["initiative_id"])
                         .order_by(initiative_milestones.c.position))]
            mail = render_mail("initiative_approved", owners.language_of(process.owner), {
                "initiative": row, "person": process.person.name, "milestones": steps})
            sent += enqueue(conn, idempotency_key=f"initiative:{row['initiative_id']}:approved",
                            kind=OWNER_KIND, recipient=process.person.email,
                            subject=mail.subject, body_text=mail.text, body_html=mail.html,
                            created_at=at)
    return sent
