"""The clocks of a case and their escalation ladder.

Two clocks start when a case opens: *acknowledge* (default 24 h) stops when its owner
acknowledges it (or closes or dismisses it), *close* (default 48 h, CustomerGauge's
target) when it is closed or dismissed. By default they run through weekends (the client's
view); with ``count_weekends: false`` the hours of Saturdays and Sundays (UTC) do not count.

The ladder (``implement.yaml`` ``cases.escalation``) applies to each running clock: a step
``at`` share s of a clock of H hours falls due when s x H counted hours have passed since
the case opened (default: a reminder to the owner at half the clock, the owner's manager
when it runs out, the CX lead at twice the clock). Each step is taken once per case and
clock (``case_escalations``, outbox ``case:<case_id>:<clock>:<step>``), however often the
hourly run repeats; deadlines are computed from the rules of the run, never stored, so a
changed clock or ladder applies to cases already open.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from cx_tasks.feedback.rules import Owners
from cx_tasks.implement.cases import FINAL, Case, notify_owner
from cx_tasks.implement.links import LinkKeys
from cx_tasks.implement.rules import CaseRules, Clocks, EscalationStep
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import case_escalations, cases, feedback

CLOCKS = ("acknowledge", "close")


def deadline(start: datetime, hours: float, count_weekends: bool) -> datetime:
    """The moment ``hours`` counted hours after ``start``: plain hours when weekends count,
    else only the hours of Monday to Friday (UTC) count."""
    if count_weekends:
        return start + timedelta(hours=hours)
    remaining, moment = timedelta(hours=hours), start
    while remaining > timedelta(0):
        midnight = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
        if moment.weekday() >= 5:  # Saturday or Sunday: skip to the next midnight
            moment = midnight
            continue
        chunk = min(remaining, midnight - moment)
        moment, remaining = moment + chunk, remaining - chunk
    return moment


def clock_hours(clock: str, clocks: Clocks) -> int:
    """The length in hours of clock ``acknowledge`` or ``close``."""
    return clocks.acknowledge_hours if clock == "acknowledge" else clocks.close_hours


def clock_due(case: Case, clock: str, clocks: Clocks) -> datetime:
    """When ``clock`` of ``case`` runs out."""
    return deadline(case.opened_at, clock_hours(clock, clocks), clocks.count_weekends)


def clock_stopped_at(case: Case, clock: str) -> datetime | None:
    """When ``clock`` stopped (None while it runs)."""
    if clock == "acknowledge":
        return case.acknowledged_at or case.closed_at
    return case.closed_at


def within_clock(case: Case, clock: str, clocks: Clocks) -> bool | None:
    """Whether ``clock`` stopped by its deadline (None while it still runs)."""
    stopped = clock_stopped_at(case, clock)
    return None if stopped is None else stopped <= clock_due(case, clock, clocks)


@dataclass(frozen=True)
class DueStep:
    """An escalation step that has fallen due for a case's clock."""

    case: Case
    clock: str
    step: EscalationStep
    due_at: datetime


def due_steps(case: Case, rules: CaseRules, now: datetime) -> list[DueStep]:
    """The ladder's steps due by ``now`` on the clocks of ``case`` still running."""
    if case.status in FINAL:
        return []
    steps = []
    for clock in CLOCKS:
        if clock_stopped_at(case, clock) is not None:
            continue
        hours = clock_hours(clock, rules.clocks)
        for step in rules.escalation:
            due_at = deadline(case.opened_at, hours * step.at, rules.clocks.count_weekends)
            if due_at <= now:
                steps.append(DueStep(case, clock, step, due_at))
    return steps


def recipient(step: EscalationStep, case: Case, rules: CaseRules,
              owners: Owners) -> tuple[str, str, str]:
    """(name, address, language) a step goes to: the owner in the owner's language, the
    owner department's manager (the CX lead when the department has none) or the CX lead,
    each in their own language if configured, else the owner's."""
    owner_language = owners.language_of(case.owner)
    if step.to == "owner":
        return case.owner_person or case.owner, case.owner_email, owner_language
    person = rules.managers.get(case.owner) if step.to == "manager" else None
    person = person or rules.cx_lead
    return person.name, person.email, person.language or owner_language


def escalate(warehouse_url: str, *, now: datetime, rules: CaseRules, owners: Owners,
             keys: LinkKeys) -> Counter[str]:
    """Take every escalation step due by ``now`` not taken before; return the count per
    step. The step is recorded and its e-mail enqueued in one transaction."""
    taken: Counter[str] = Counter()
    with engine_for(warehouse_url).begin() as conn:
        running = [Case(**r) for r in conn.execute(
            select(cases).where(cases.c.status.not_in(sorted(FINAL)))
            .order_by(cases.c.opened_at, cases.c.case_id)).mappings()]
        for case in running:
            for due in due_steps(case, rules, now):
                name, address, language = recipient(due.step, case, rules, owners)
                row = {"case_id": case.case_id, "clock": due.clock, "step": due.step.step,
                       "due_at": due.due_at, "recipient": address, "escalated_at": now}
                if insert_if_absent(conn, case_escalations, [row]) != 1:
                    continue
                text = conn.scalar(select(feedback.c.text)
                                   .where(feedback.c.feedback_id == case.feedback_id))
                notify_owner(conn, case, text, due.step.step, keys, rules, due.due_at,
                             language=language, recipient=(name, address), clock=due.clock)
                taken[due.step.step] += 1
    return taken
