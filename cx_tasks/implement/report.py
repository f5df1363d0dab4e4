"""The implementation report: every initiative and case from one system.

Initiatives: owner, status, milestones planned against actual (overdue: planned before the
report's day and not reached), linked complaints and clients, progress e-mails sent, the
effects the adjust stage measured by the report's day (estimate, 95% interval and n per
metric) and whether it is flagged for correction.
Cases per owner: the department (its name in ``owners.yaml``) and the person the cases went
to (name and e-mail, as the cases were assigned from ``owners.yaml``; the team's address when
no person owns the process), open, overdue (a running clock past its deadline), median
hours to acknowledge and to close, the share closed within the close clock, escalations.
The same
rows feed ``cx initiatives``, ``cx cases list`` and the HTML page written to
``<data dir>/reports/implementation.html`` (the ``implementation_report`` message's HTML,
autoescaped; an absent value shows as "—").
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from cx_tasks.adjust.effect import Effect
from cx_tasks.adjust.store import read_corrections, read_effects
from cx_tasks.feedback.rules import Owners
from cx_tasks.implement.cases import FINAL, Case
from cx_tasks.implement.escalation import clock_due, within_clock
from cx_tasks.implement.initiatives import MILESTONE_PREFIX, OPEN
from cx_tasks.implement.rules import Clocks
from cx_tasks.mail.render import RenderedMail, render_mail
from cx_tasks.warehouse.schema import (
    case_escalations,
    case_history,
    cases,
    initiative_history,
    initiative_links,
    initiative_milestones,
    initiatives,
    progress_notices,
)

REPORT_NAME = "implementation.html"


@dataclass(frozen=True)
class MilestoneRow:
    """A milestone as reported."""

    milestone_id: str
    title: str
    planned_on: date | None
    reached_on: date | None
    client_visible: bool
    overdue: bool


@dataclass(frozen=True)
class InitiativeRow:
    """An initiative as reported."""

    initiative_id: str
    title: str
    owner: str | None
    owner_person: str | None
    status: str
    proposed_on: date
    complaints: int
    clients: int
    progress_emails: int
    milestones: tuple[MilestoneRow, ...]
    effects: tuple[Effect, ...] = ()
    correction: str | None = None
    last_change: datetime | None = None

    @property
    def overdue(self) -> int:
        return sum(m.overdue for m in self.milestones)


@dataclass
class OwnerCases:
    """Cases of one owner as reported: its department (owner id), and the person (None: the
    team) and address the cases went to."""

    owner: str
    person: str | None = None
    email: str | None = None
    total: int = 0
    open: int = 0
    overdue: int = 0
    closed: int = 0
    closed_within_clock: int = 0
    escalations: int = 0
    hours_to_acknowledge: list[float] = field(default_factory=list)
    hours_to_close: list[float] = field(default_factory=list)

    @property
    def median_acknowledge(self) -> float | None:
        return statistics.median(self.hours_to_acknowledge) if self.hours_to_acknowledge \
            else None

    @property
    def median_close(self) -> float | None:
        return statistics.median(self.hours_to_close) if self.hours_to_close else None

    @property
    def share_within_clock(self) -> float | None:
        """Closed within the close clock over cases closed (dismissed ones are not)."""
        return self.closed_within_clock / self.closed if self.closed else None


def initiative_rows(conn: Connection, today: date) -> list[InitiativeRow]:
    """Every initiative, newest proposal first, with its milestones, counts, last change and
    the newest effects and corrections measured by ``today`` (``adjust.store``)."""
    complaints = dict(conn.execute(
        select(initiative_links.c.initiative_id, func.count())
        .where(initiative_links.c.kind == "feedback")
        .group_by(initiative_links.c.initiative_id)).all())
    clients = dict(conn.execute(
        select(initiative_links.c.initiative_id,
               func.count(initiative_links.c.client_id.distinct()))
        .group_by(initiative_links.c.initiative_id)).all())
    emails = dict(conn.execute(
        select(progress_notices.c.initiative_id,
               func.count(progress_notices.c.mail_key.distinct()))
        .where(progress_notices.c.status == "sent")
        .group_by(progress_notices.c.initiative_id)).all())
    steps: dict[str, list[MilestoneRow]] = defaultdict(list)
    for m in conn.execute(select(initiative_milestones).order_by(
            initiative_milestones.c.initiative_id, initiative_milestones.c.position)):
        steps[m.initiative_id].append(MilestoneRow(
            m.milestone_id, m.title_en, m.planned_on, m.reached_on, bool(m.client_visible),
            overdue=m.reached_on is None and m.planned_on is not None and m.planned_on < today))
    effects: dict[str, list[Effect]] = defaultdict(list)
    for effect in read_effects(conn, today):
        effects[effect.initiative_id].append(effect)
    due = {c.initiative_id: c.reason for c in read_corrections(conn, today)}
    changed = dict(conn.execute(
        select(initiative_history.c.initiative_id, func.max(initiative_history.c.changed_at))
        .group_by(initiative_history.c.initiative_id)).all())
    return [InitiativeRow(
        initiative_id=r.initiative_id, title=r.title, owner=r.owner,
        owner_person=r.owner_person, status=r.status, proposed_on=r.proposed_on,
        complaints=complaints.get(r.initiative_id, 0), clients=clients.get(r.initiative_id, 0),
        progress_emails=emails.get(r.initiative_id, 0),
        milestones=tuple(steps[r.initiative_id]),
        effects=tuple(effects.get(r.initiative_id, ())), correction=due.get(r.initiative_id),
        last_change=changed.get(r.initiative_id))
        for r in conn.execute(select(initiatives).order_by(
            initiatives.c.proposed_on.desc(), initiatives.c.initiative_id))]


UNPLANNED = ("proposed", "rejected")
"""Statuses before an approval: milestones are planned when an initiative is approved."""


def initiatives_as_at(conn: Connection, moment: datetime) -> list[InitiativeRow]:
    """The initiatives proposed before ``moment`` as they stood then (``initiative_rows`` of
    its day): the status of their last status change before it, the milestones reached
    after it not reached yet (nor planned before an approval), and ``last_change`` their
    last history row before it."""
    status: dict[str, str] = {}
    changed: dict[str, datetime] = {}
    reached: set[tuple[str, str]] = set()
    for initiative_id, at, what in conn.execute(
            select(initiative_history.c.initiative_id, initiative_history.c.changed_at,
                   initiative_history.c.status)
            .where(initiative_history.c.changed_at < moment)
            .order_by(initiative_history.c.initiative_id, initiative_history.c.changed_at)):
        changed[initiative_id] = at
        if what.startswith(MILESTONE_PREFIX):
            reached.add((initiative_id, what.removeprefix(MILESTONE_PREFIX)))
        else:
            status[initiative_id] = what
    out = []
    for row in initiative_rows(conn, moment.date()):
        if row.initiative_id not in changed:
            continue
        then = status.get(row.initiative_id, row.status)
        steps = tuple(_milestone_as_at(m, (row.initiative_id, m.milestone_id) in reached,
                                       then in UNPLANNED, moment.date())
                      for m in row.milestones)
        out.append(replace(row, status=then, milestones=steps,
                           last_change=changed[row.initiative_id]))
    return out


def _milestone_as_at(step: MilestoneRow, reached: bool, unplanned: bool, day: date
                     ) -> MilestoneRow:
    """A milestone as it stood on ``day``: not planned before its initiative's approval,
    not reached before its history says so."""
    if reached:
        return step
    planned = None if unplanned else step.planned_on
    return replace(step, planned_on=planned, reached_on=None,
                   overdue=planned is not None and planned < day)


def is_stalled(row: InitiativeRow, now: datetime, stalled_after_days: int) -> bool:
    """An open initiative (proposed, approved, in progress) with no status change and no
    milestone reached for ``stalled_after_days`` days before ``now``."""
    return (row.status in OPEN and row.last_change is not None
            and now - row.last_change >= timedelta(days=stalled_after_days))


def stored_cases(conn: Connection, *, owner: str | None = None,
                 open_only: bool = False) -> list[Case]:
    """Stored cases, oldest first (one owner's, or the open ones, when asked)."""
    query = select(cases).order_by(cases.c.opened_at, cases.c.case_id)
    if owner is not None:
        query = query.where(cases.c.owner == owner)
    if open_only:
        query = query.where(cases.c.status.not_in(sorted(FINAL)))
    return [Case(**r) for r in conn.execute(query).mappings()]


def is_overdue(case: Case, clocks: Clocks, now: datetime) -> bool:
    """A case with a running clock past its deadline at ``now``."""
    if case.status in FINAL:
        return False
    return ((case.acknowledged_at is None and clock_due(case, "acknowledge", clocks) < now)
            or clock_due(case, "close", clocks) < now)


OwnerKey = tuple[str, str | None, str]
"""A case owner as the report counts it: department, person (None for the team), address."""


def cases_as_at(conn: Connection, moment: datetime) -> list[Case]:
    """The cases opened before ``moment`` as they stood then, oldest first: the status of
    their last history row before ``moment``, the clocks' stops after it undone (so a
    report of a past moment reads the same whenever it is made)."""
    statuses: dict[str, str] = {}
    for case_id, status in conn.execute(
            select(case_history.c.case_id, case_history.c.status)
            .where(case_history.c.changed_at < moment)
            .order_by(case_history.c.case_id, case_history.c.changed_at)):
        statuses[case_id] = status
    out = []
    for case in stored_cases(conn):
        if case.opened_at >= moment:
            continue
        acknowledged = case.acknowledged_at if (case.acknowledged_at is not None
                                                and case.acknowledged_at < moment) else None
        closed = case.closed_at if (case.closed_at is not None
                                    and case.closed_at < moment) else None
        out.append(replace(case, status=statuses.get(case.case_id, "open"),
                           acknowledged_at=acknowledged, closed_at=closed,
                           note=case.note if closed is not None else None))
    return out


def escalations_by_owner(conn: Connection, before: datetime | None = None
                         ) -> Counter[OwnerKey]:
    """Escalation steps taken per case owner: department, person and address (those taken
    before ``before``, when given)."""
    owner = (cases.c.owner, cases.c.owner_person, cases.c.owner_email)
    query = (select(*owner, func.count()).select_from(case_escalations)
             .join(cases, cases.c.case_id == case_escalations.c.case_id).group_by(*owner))
    if before is not None:
        query = query.where(case_escalations.c.escalated_at < before)
    return Counter({(o, person, email): n for o, person, email, n in conn.execute(query)})


def cases_by_owner(conn: Connection, clocks: Clocks, now: datetime) -> list[OwnerCases]:
    """Case figures per owner (module doc): per department, person and address, in that
    order (the team's own address first)."""
    return owner_figures(stored_cases(conn), escalations_by_owner(conn), clocks, now)


def owner_figures(found: Iterable[Case], escalated: Mapping[OwnerKey, int], clocks: Clocks,
                  now: datetime) -> list[OwnerCases]:
    """Case figures per owner (module doc) of ``found`` at ``now``, per department, person
    and address; ``escalated``: escalation steps per the same key."""
    owners: dict[OwnerKey, OwnerCases] = {}
    for case in found:
        key = (case.owner, case.owner_person, case.owner_email)
        row = owners.setdefault(key, OwnerCases(*key))
        row.total += 1
        row.open += case.status not in FINAL
        row.overdue += is_overdue(case, clocks, now)
        if case.acknowledged_at is not None:
            row.hours_to_acknowledge.append(_hours(case.acknowledged_at - case.opened_at))
        if case.status == "closed" and case.closed_at is not None:
            row.closed += 1
            row.hours_to_close.append(_hours(case.closed_at - case.opened_at))
            row.closed_within_clock += bool(within_clock(case, "close", clocks))
    for key, row in owners.items():
        row.escalations = escalated.get(key, 0)
    return [owners[k] for k in sorted(owners, key=lambda k: (k[0], k[1] or "", k[2]))]


def _hours(delta: Any) -> float:
    return round(delta.total_seconds() / 3600, 1)


def render_report(conn: Connection, clocks: Clocks, now: datetime,
                  registry: Owners) -> RenderedMail:
    """The report as a message (template ``implementation_report``): its HTML part is the
    page; the monitor stage mails the same message. ``registry`` names the departments."""
    owners = cases_by_owner(conn, clocks, now)
    closed = sum(o.closed for o in owners)
    everyone = OwnerCases("all", closed=closed,
                          closed_within_clock=sum(o.closed_within_clock for o in owners),
                          hours_to_acknowledge=[h for o in owners for h in o.hours_to_acknowledge],
                          hours_to_close=[h for o in owners for h in o.hours_to_close])
    return render_mail("implementation_report", "en", dict(
        now=now, clocks=clocks, initiatives=initiative_rows(conn, now.date()),
        owners=owners, everyone=everyone, hours=_shown_hours, share=_shown_share,
        departments={k: o.name["en"] for k, o in registry.owners.items()},
        effect=shown_effect))


def shown_effect(effect: Effect) -> str:
    """``<metric> <estimate> (95% interval <low> to <high>, n <n>)``, three significant
    digits, signed."""
    return (f"{effect.metric} {effect.estimate:+.3g} (95% interval {effect.low:+.3g} to "
            f"{effect.high:+.3g}, n {effect.n})")


def _shown_hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def _shown_share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def write_report(conn: Connection, clocks: Clocks, now: datetime, folder: Path,
                 registry: Owners) -> Path:
    """Write the report to ``folder/implementation.html``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME
    html = render_report(conn, clocks, now, registry).html
    assert html is not None
    path.write_text(html, encoding="utf-8")
    return path
