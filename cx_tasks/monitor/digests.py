"""Digests for the CX team, each owner and each account manager: HTML e-mails (inline chart
images by Content-ID, a plain-text part, tables with inline styles that hold in a narrow
window and without CSS), also saved as HTML files, sent through the outbox.

A digest is a list of sections; each section comes from a small *section builder*
``(DigestData, DigestScope) -> Section | None`` in the list of its kind (``SECTIONS``), so
another stage adds its sections by appending its own builders.

- ``daily`` (08:00 in the CX team's time zone, the interval since the day before): new
  detractors and low scores, cases overdue and escalated, findings without an owner,
  data-quality failures, events awaiting surveys, acknowledgements overdue, the at-risk lists
  (clients, account managers);
- ``weekly`` (Monday): NPS, CSAT, CES and CSI with their intervals and significant changes
  (chart), the computable metrics' trends per segment, the Pareto chart, the top
  drill-downs, initiatives (status, overdue, stalled) and the implementation report's
  cases per owner, the satisfaction-money link, the monitor's findings, the share of
  indicators collected automatically, the initiatives' measured effects and corrections due,
  the at-risk lists;
- ``owner`` (weekly): that owner's open cases with their clocks, findings (due dates
  first) and open initiatives;
- ``manager`` (weekly): the account manager's clients' scores, open cases and findings.

Cases and initiatives are read as they stood at the period's end (``implement.report``
``cases_as_at``, ``initiatives_as_at``), so a rerun of a period says what the first run said.

Exactly once per recipient and period: the outbox key is ``digest:<kind>:<scope>:<period
start>:<recipient>``, created at the period's end. A digest whose sections say nothing is
neither sent nor saved unless ``send_when_empty``. Text from clients is data: the HTML
template escapes every value.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from cx_tasks.monitor.display import LABELS, figure_text


@dataclass(frozen=True)
class Table:
    """A table of text cells."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def text(self) -> str:
        """The table as plain-text lines, cells separated by `` | ``."""
        return "\n".join(" | ".join(r) for r in (self.columns, *self.rows))


@dataclass(frozen=True)
class Chart:
    """An image shown inline: its Content-ID (also its file name), PNG bytes, alt text."""

    content_id: str
    png: bytes
    alt: str


@dataclass(frozen=True)
class Section:
    """One section of a digest: a title, lines, a table and a chart (each optional)."""

    title: str
    lines: tuple[str, ...] = ()
    table: Table | None = None
    chart: Chart | None = None

    @property
    def says_something(self) -> bool:
        return bool(self.lines or (self.table is not None and self.table.rows)
                    or self.chart is not None)


@dataclass(frozen=True)
class DigestScope:
    """Whom a digest is for: its kind, the key of its scope (``cx_team``, an owner id, a
    manager's name), the title and the addresses."""

    kind: str
    key: str
    title: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class DigestData:
    """What the section builders read, loaded once per run (``load_digest_data``): the
    period ``[start, end)`` (naive UTC) and frames of the warehouse."""

    start: datetime
    end: datetime
    min_n: int = 10
    answers: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: pd.DataFrame = field(default_factory=pd.DataFrame)
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    link: pd.DataFrame = field(default_factory=pd.DataFrame)
    metric_trends: pd.DataFrame = field(default_factory=pd.DataFrame)
    pareto: pd.DataFrame = field(default_factory=pd.DataFrame)
    drilldown: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality_failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    events_awaiting: int = 0
    acknowledgements_overdue: int = 0
    automatic_share: pd.DataFrame = field(default_factory=pd.DataFrame)
    cake: pd.DataFrame = field(default_factory=pd.DataFrame)
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    corrections: pd.DataFrame = field(default_factory=pd.DataFrame)
    at_risk: pd.DataFrame = field(default_factory=pd.DataFrame)
    cases: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Cases opened before ``end`` as they stood then (``CASE_COLUMNS``)."""
    escalations: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Escalation steps taken in the period (``ESCALATION_COLUMNS``)."""
    case_owners: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The implementation report's case figures per owner at ``end`` (``OWNER_COLUMNS``)."""
    initiatives: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Initiatives proposed before ``end`` as they stood then (``INITIATIVE_COLUMNS``)."""

    @property
    def as_of(self) -> date:
        return self.end.date()

    @cached_property
    def owners_findings(self) -> dict[str, list[tuple[str, ...]]]:
        """Each owner's findings as table rows (``findings_by_owner``), made once."""
        return findings_by_owner(self.findings, self.as_of)


SectionBuilder = Callable[[DigestData, DigestScope], Section | None]


def _cell(value: Any, places: int = 1) -> str:
    """A value as a table cell: numbers rounded, missing as an em dash (never nan/None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.{places}f}"
    return str(value)


def _table(frame: pd.DataFrame, columns: Mapping[str, str], places: int = 1) -> Table:
    """A frame's columns (name -> header) as a Table of cells."""
    rows = tuple(tuple(_cell(v, places) for v in row)
                 for row in frame[list(columns)].itertuples(index=False))
    return Table(tuple(columns.values()), rows)


# --- daily sections -------------------------------------------------------------------------

LOW_SCORES = {"nps": 6, "csat": 2, "ces": 3}
"""A detractor or low score: at most this on the question's scale (NPS 0-6, CSAT 1-2,
CES 1-3)."""


def new_detractors(data: DigestData, scope: DigestScope) -> Section | None:
    """New detractors and low scores answered in the period, with the response's comment."""
    answers = data.answers
    if answers.empty:
        return None
    period = answers[(answers["answered_at"] >= data.start) & (answers["answered_at"]
                                                               < data.end)]
    limit = period["question"].map(LOW_SCORES)
    low = period[period["score"] <= limit].sort_values(["answered_at", "client_id"])
    if low.empty:
        return None
    return Section("New detractors and low scores",
                   (f"{len(low)} answers at or below NPS 6, CSAT 2, CES 3.",),
                   _table(low.assign(question=low["question"].str.upper()),
                          {"client_id": "client", "role": "role", "question": "question",
                           "score": "score", "comment": "comment"}))


def unowned_findings(data: DigestData, scope: DigestScope) -> Section | None:
    """Findings nobody owns."""
    found = data.findings
    if found.empty:
        return None
    unowned = found[found["owner"].isna()].sort_values("found_on")
    if unowned.empty:
        return None
    return Section("Findings without an owner", (f"{len(unowned)} findings need an owner.",),
                   _table(unowned.head(20), {"kind": "kind", "client_id": "client",
                                             "summary": "summary", "found_on": "found"}))


def quality_failures(data: DigestData, scope: DigestScope) -> Section | None:
    """Nightly intervals the data-quality gate blocked in the period."""
    failed = data.quality_failures
    if failed.empty:
        return None
    return Section("Data-quality failures",
                   (f"{len(failed)} nightly intervals blocked by the quality gate.",),
                   _table(failed, {"interval_start": "interval", "failed_expectations":
                                   "failed expectations"}))


def events_awaiting_surveys(data: DigestData, scope: DigestScope) -> Section | None:
    """Trigger events of the period with neither an invitation nor a skip yet."""
    if not data.events_awaiting:
        return None
    return Section("Events awaiting surveys",
                   (f"{data.events_awaiting} trigger events have no survey planned yet.",))


def acknowledgements_overdue(data: DigestData, scope: DigestScope) -> Section | None:
    """Feedback past its acknowledgement time with no decision, or whose acknowledgement
    e-mail is still unsent."""
    if not data.acknowledgements_overdue:
        return None
    return Section("Acknowledgements overdue",
                   (f"{data.acknowledgements_overdue} pieces of feedback are past their "
                    "acknowledgement time without one sent.",))


# --- weekly sections ------------------------------------------------------------------------

def kpi_chart(figures: pd.DataFrame) -> Chart | None:
    """Monthly NPS and CSAT (all clients) with their 95% intervals, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monthly = figures[(figures["level"] == "all") & (figures["period"] == "month")
                      & figures["value"].notna()]
    if monthly.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 2.4), dpi=100)
    for axis, kpi in zip(axes, ("nps", "csat"), strict=True):
        rows = monthly[monthly["kpi"] == kpi].sort_values("period_start")
        months = [d.strftime("%y-%m") for d in rows["period_start"]]
        axis.errorbar(months, rows["value"],
                      yerr=[rows["value"] - rows["low"], rows["high"] - rows["value"]],
                      fmt="o-", capsize=2, markersize=3, linewidth=1)
        axis.set_title(f"{LABELS[kpi]} by month, 95% interval", fontsize=9)
        axis.tick_params(labelsize=7)
        axis.set_xticks(range(len(months)))
        axis.set_xticklabels(months, rotation=90)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return Chart("kpi_trend.png", buffer.getvalue(),
                 "NPS and CSAT of all clients by month with 95% intervals")


def kpi_summary(data: DigestData, scope: DigestScope) -> Section | None:
    """NPS, CSAT, CES and CSI of the trailing window, overall and per segment, with their
    intervals and significant changes; the monthly chart."""
    figures = data.figures
    if figures.empty:
        return None
    recent = figures[(figures["period"] == "t90") & figures["level"].isin(("all", "segment"))]
    rows = []
    for (_level, group), part in recent.groupby(["level", "group_key"], sort=False):
        by_kpi = {r.kpi: r for r in part.itertuples()}
        rows.append((str(group), *(
            figure_text(k, r.value, r.low, r.high, r.n, data.min_n, r.change) + f" (n {r.n})"
            if (r := by_kpi.get(k)) is not None else "—" for k in ("nps", "csat", "ces", "csi"))))
    changed = recent[recent["change"].notna()]
    lines = [f"{LABELS[r.kpi]} {r.group_key}: significant change {r.change}"
             for r in changed.itertuples()]
    return Section("NPS, CSAT, CES and CSI (trailing 90 days, 95% intervals)",
                   tuple(lines) or ("No significant change against the 90 days before.",),
                   Table(("group", "NPS", "CSAT", "CES", "CSI"), tuple(rows)),
                   kpi_chart(figures))


def metric_trends(data: DigestData, scope: DigestScope) -> Section | None:
    """OTIF and the other computable metrics per segment over the last three months, as
    stored with the KPIs (``monitor.trends``)."""
    from cx_tasks.monitor.trends import trend_table

    columns, rows = trend_table(data.metric_trends, 3)
    if not rows:
        return None
    return Section("Computable metrics: OTIF and the others, per segment and month",
                   ("Pooled over each segment's clients; n and what it counts in brackets.",),
                   Table(columns, tuple(rows)))


def pareto_chart(pareto: pd.DataFrame) -> Chart:
    """Complaints per process class (bars) and their cumulative share (line), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6.0, 2.6), dpi=100)
    labels = [str(c).replace("_", " ") for c in pareto["process_class"]]
    axis.bar(labels, pareto["complaints"], color="#4472c4")
    axis.tick_params(axis="x", labelrotation=45, labelsize=7)
    twin = axis.twinx()
    twin.plot(labels, 100 * pareto["cumulative_share"], "o-", color="#c00000", markersize=3)
    twin.set_ylim(0, 105)
    twin.set_ylabel("cumulative %", fontsize=8)
    axis.set_title("Complaints by process class (Pareto)", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return Chart("pareto.png", buffer.getvalue(), "Pareto chart of complaints by process class")


def pareto_section(data: DigestData, scope: DigestScope) -> Section | None:
    """The latest Pareto ranking of all segments by complaint count, with its chart."""
    pareto = data.pareto
    if pareto.empty:
        return None
    vital = pareto[pareto["vital_few"]]
    return Section("Pareto: the vital few process classes",
                   (f"{len(vital)} process classes cause "
                    f"{100 * vital['share'].sum():.0f}% of the complaints.",),
                   _table(pareto.assign(share=100 * pareto["share"]),
                          {"rank": "rank", "process_class": "process class",
                           "complaints": "complaints", "share": "share %"}),
                   pareto_chart(pareto))


def top_drilldowns(data: DigestData, scope: DigestScope) -> Section | None:
    """The clients whose satisfaction fell most, with the chain to the owner."""
    drill = data.drilldown
    if drill.empty:
        return None
    return Section("Top drill-downs", (), _table(drill, {
        "client_id": "client", "role": "role", "satisfaction_drop": "drop",
        "factor": "factor", "metric": "metric", "process_class": "process", "owner": "owner"}))


def money_link_section(data: DigestData, scope: DigestScope) -> Section | None:
    """The satisfaction-margin link per segment in the latest month with one."""
    link = data.link.dropna(subset=["slope"]) if not data.link.empty else data.link
    if link.empty:
        return None
    latest = link[link["month"] == link["month"].max()]
    return Section(f"Satisfaction and gross margin ({latest['month'].iloc[0]:%Y-%m})",
                   ("Margin points per CSI point across each segment's clients.",),
                   _table(latest, {"segment": "segment", "clients": "clients",
                                   "slope": "slope", "standardised": "standardised",
                                   "r2": "R²", "p_value": "p", "spearman_rho": "Spearman ρ"},
                          places=3))


MONITOR_KINDS = ("money_link", "satisfaction_up_payments_not", "role_gap")


def monitor_findings(data: DigestData, scope: DigestScope) -> Section | None:
    """The monitor's findings of the period: a weakened link, satisfaction up but payments
    not, role gaps."""
    found = data.findings
    if found.empty:
        return None
    new = found[found["kind"].isin(MONITOR_KINDS)
                & (pd.to_datetime(found["found_on"]) >= pd.Timestamp(data.start.date()))]
    if new.empty:
        return None
    return Section("Satisfaction and money, role gaps: new findings",
                   tuple(new.sort_values(["kind", "finding_id"])["summary"]))


def automatic_share(data: DigestData, scope: DigestScope) -> Section | None:
    """The share of indicators collected automatically (the latest figure)."""
    share = data.automatic_share
    if share.empty:
        return None
    latest = share.sort_values("as_of").iloc[-1]
    return Section("Collected automatically", (
        f"{100 * latest['value']:.0f}% of the catalogue's indicators are computed from "
        f"the supplier's systems ({latest['detail']}).",))


# --- owner and account manager sections ---------------------------------------------------

def findings_by_owner(found: pd.DataFrame, as_of: date
                      ) -> dict[str, list[tuple[str, ...]]]:
    """Every owner's findings as table rows (kind, client, summary, due, open/overdue), due
    dates first: computed once for all owners' digests."""
    if found.empty:
        return {}
    owned = found[found["owner"].notna()].sort_values(["owner", "due_on", "finding_id"])
    due = pd.to_datetime(owned["due_on"])
    status = pd.Series("open", index=owned.index).where(due >= pd.Timestamp(as_of),
                                                        "overdue")
    status[due.isna()] = "open"
    rows = zip(owned["owner"], owned["kind"], owned["client_id"], owned["summary"],
               owned["due_on"], status, strict=True)
    out: dict[str, list[tuple[str, ...]]] = {}
    for owner, *cells in rows:
        out.setdefault(owner, []).append(tuple(_cell(c) for c in cells))
    return out


def owner_findings(data: DigestData, scope: DigestScope) -> Section | None:
    """The owner's findings, due dates first; overdue ones marked."""
    mine = data.owners_findings.get(scope.key, [])
    if not mine:
        return None
    overdue = sum(row[-1] == "overdue" for row in mine)
    return Section("Your findings", (f"{len(mine)} findings, {overdue} overdue.",),
                   Table(("kind", "client", "summary", "due", "status"), tuple(mine[:50])))


def manager_scores(data: DigestData, scope: DigestScope) -> Section | None:
    """The manager's clients: the last three months' NPS, CSAT and CSI with their n."""
    cake = data.cake
    if cake.empty:
        return None
    mine = cake[(cake["account_manager"] == scope.key)
                & ((cake["nps_n"] + cake["csat_n"] + cake["csi_n"]) > 0)]
    if mine.empty:
        return None
    mine = mine.sort_values(["client_id", "month"])
    return Section("Your clients' scores (raw, by month; n in brackets)", (),
                   Table(("client", "month", "NPS", "CSAT %", "CSI"), tuple(
                       (r.client_id, f"{r.month:%Y-%m}", *(
                           f"{_cell(v, 0)} ({n})" if n else "—"
                           for v, n in ((r.nps, r.nps_n), (r.csat, r.csat_n), (r.csi, r.csi_n))))
                       for r in mine.itertuples())))


def manager_findings(data: DigestData, scope: DigestScope) -> Section | None:
    """Findings on the manager's clients."""
    found, cake = data.findings, data.cake
    if found.empty or cake.empty:
        return None
    clients = set(cake.loc[cake["account_manager"] == scope.key, "client_id"])
    mine = found[found["client_id"].isin(clients)].sort_values(["client_id", "finding_id"])
    if mine.empty:
        return None
    return Section("Findings on your clients", (), _table(mine, {
        "client_id": "client", "kind": "kind", "summary": "summary", "owner": "owner"}))


# --- the adjust stage's sections ------------------------------------------------------------

def _interval(estimate: float, low: float, high: float) -> tuple[str, str]:
    """An effect and its interval as cells (three significant digits, signed)."""
    return f"{estimate:+.3g}", f"{low:+.3g} to {high:+.3g}"


def initiative_effects_section(data: DigestData, scope: DigestScope) -> Section | None:
    """Each initiative's measured effect (``data.effects``: the adjust stage's newest day):
    estimate, 95% interval and n per metric; then those flagged for correction, with owner."""
    effects, due = data.effects, data.corrections
    if effects.empty and due.empty:
        return None
    lines = tuple(f"For correction: {r.initiative_id} ({r.owner}), {r.days_running} days "
                  f"running: {r.reason}." for r in due.itertuples())
    rows = tuple((r.initiative_id, r.metric, *_interval(r.estimate, r.low, r.high), str(r.n),
                  str(r.clusters)) for r in effects.itertuples())
    return Section("Initiatives' measured effects (difference-in-differences, 95% interval)",
                   lines, Table(("initiative", "metric", "effect", "95% interval",
                                 "n (client-months)", "accounts"), rows))


def clients_at_risk(data: DigestData, scope: DigestScope) -> Section | None:
    """The clients on the at-risk list (``data.at_risk`` kind ``client``): the probability of
    a satisfaction drop or fall in orders in the next 90 days, top reasons, manager."""
    risks = data.at_risk
    mine = risks[risks["kind"] == "client"] if not risks.empty else risks
    if mine.empty:
        return None
    return Section("Clients at risk in the next 90 days", (), Table(
        ("client", "probability", "account manager", "top reasons"),
        tuple((r.subject_id, f"{r.probability:.0%}", _cell(r.manager), r.reasons or "—")
              for r in mine.itertuples())))


def staff_at_risk(data: DigestData, scope: DigestScope) -> Section | None:
    """The account managers on the at-risk lists (kinds ``leaves``, ``overloaded``): the
    probability, top reasons and the portfolio at risk (clients, revenue x probability)."""
    risks = data.at_risk
    mine = risks[risks["kind"].isin(("leaves", "overloaded"))] if not risks.empty else risks
    if mine.empty:
        return None
    return Section("Account managers at risk next quarter, and the portfolio at risk", (),
                   Table(("manager", "risk", "probability", "clients", "revenue at risk",
                          "top reasons"),
                         tuple((r.subject_id, r.kind, f"{r.probability:.0%}",
                                _cell(r.clients, 0), _cell(r.revenue_at_risk, 0),
                                r.reasons or "—") for r in mine.itertuples())))


# --- the implement stage's sections: cases, initiatives, the implementation report ----------

CASE_COLUMNS = ("case_id", "client_id", "trigger", "owner", "owner_person", "status",
                "opened_at", "acknowledge_by", "close_by", "overdue", "said",
                "account_manager")
ESCALATION_COLUMNS = ("case_id", "client_id", "owner", "clock", "step", "recipient",
                      "escalated_at")
OWNER_COLUMNS = ("owner", "person", "open", "overdue", "median_acknowledge_h",
                 "median_close_h", "within_clock", "escalations")
INITIATIVE_COLUMNS = ("initiative_id", "title", "owner", "owner_person", "status",
                      "next_milestone", "next_planned", "overdue", "stalled", "last_change")
FINAL_CASES = ("closed", "dismissed")


def _moment(value: Any) -> str:
    """A time as ``YYYY-MM-DD HH:MM`` (UTC), missing as an em dash."""
    return "—" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"


def _open_cases(data: DigestData) -> pd.DataFrame:
    """The cases still open at the period's end (not closed or dismissed)."""
    found = data.cases
    if found.empty:
        return found
    return found[~found["status"].isin(FINAL_CASES)]


def _case_rows(found: pd.DataFrame, *columns: str) -> tuple[tuple[str, ...], ...]:
    """Case rows as cells: the given columns, then status, acknowledge by, close by and
    whether a clock ran out."""
    return tuple((*(_cell(getattr(r, c)) for c in columns), r.status,
                  _moment(r.acknowledge_by), _moment(r.close_by),
                  "overdue" if r.overdue else "on time") for r in found.itertuples())


def cases_overdue_and_escalated(data: DigestData, scope: DigestScope) -> Section | None:
    """Cases with a clock run out at the period's end, and the escalation steps taken in
    the period."""
    overdue = _open_cases(data)
    overdue = overdue[overdue["overdue"]] if not overdue.empty else overdue
    steps = data.escalations
    if overdue.empty and steps.empty:
        return None
    lines = [f"{len(overdue)} cases overdue at {_moment(data.end)} UTC; {len(steps)} "
             "escalation steps taken in the period."]
    lines += [f"{r.step.replace('_', ' ')} ({r.clock} clock) of {r.case_id} "
              f"({r.client_id}, {r.owner}) to {r.recipient} at {_moment(r.escalated_at)}"
              for r in steps.sort_values(["escalated_at", "case_id"]).head(20).itertuples()]
    table = Table(("client", "trigger", "owner", "status", "acknowledge by", "close by",
                   "clock"), _case_rows(overdue.sort_values("opened_at").head(50),
                                        "client_id", "trigger", "owner"))
    return Section("Cases overdue and escalated", tuple(lines), table)


def initiatives_section(data: DigestData, scope: DigestScope) -> Section | None:
    """Initiatives: how many per status, the open ones with their next milestone, overdue
    milestones and whether they stalled."""
    found = data.initiatives
    if found.empty:
        return None
    counts = found["status"].value_counts()
    lines = ["By status: " + ", ".join(f"{status} {counts[status]}"
                                       for status in sorted(counts.index)) + ".",
             f"{int((found['overdue'] > 0).sum())} with an overdue milestone, "
             f"{int(found['stalled'].sum())} stalled."]
    shown = found[found["status"].isin(("proposed", "approved", "in_progress"))]
    rows = tuple((r.title, _cell(r.owner_person if isinstance(r.owner_person, str)
                                 else r.owner), r.status,
                  f"{_cell(r.next_milestone)} {_cell(r.next_planned)}",
                  str(r.overdue), "stalled" if r.stalled else "—")
                 for r in shown.sort_values(["status", "initiative_id"]).itertuples())
    return Section("Initiatives: status, overdue, stalled", tuple(lines),
                   Table(("initiative", "owner", "status", "next milestone", "overdue",
                          "stalled"), rows))


def implementation_report_section(data: DigestData, scope: DigestScope) -> Section | None:
    """The implementation report's cases per owner: open, overdue, median hours to
    acknowledge and to close, share closed within the clock, escalations."""
    report = data.case_owners
    if report.empty:
        return None
    rows = tuple((r.owner if pd.isna(r.person) else f"{r.owner} ({r.person})", str(r.open),
                  str(r.overdue), _cell(r.median_acknowledge_h),
                  _cell(r.median_close_h),
                  "—" if pd.isna(r.within_clock) else f"{100 * r.within_clock:.0f}%",
                  str(r.escalations)) for r in report.itertuples())
    return Section("Implementation report: cases per owner",
                   (f"{int(report['open'].sum())} cases open, {int(report['overdue'].sum())} "
                    f"overdue at {_moment(data.end)} UTC.",),
                   Table(("owner", "open", "overdue", "median h to acknowledge",
                          "median h to close", "closed within clock", "escalations"), rows))


def owner_cases(data: DigestData, scope: DigestScope) -> Section | None:
    """The owner's open cases with their clocks, oldest first."""
    mine = _open_cases(data)
    mine = mine[mine["owner"] == scope.key] if not mine.empty else mine
    if mine.empty:
        return None
    mine = mine.sort_values("opened_at")
    return Section("Your cases", (f"{len(mine)} open, {int(mine['overdue'].sum())} with a "
                                  "clock run out.",),
                   Table(("client", "trigger", "what the client said", "status",
                          "acknowledge by", "close by", "clock"),
                         _case_rows(mine.head(50), "client_id", "trigger", "said")))


def owner_initiatives(data: DigestData, scope: DigestScope) -> Section | None:
    """The owner's open initiatives: status, next milestone, overdue, stalled."""
    found = data.initiatives
    if found.empty:
        return None
    mine = found[(found["owner"] == scope.key)
                 & found["status"].isin(("proposed", "approved", "in_progress"))]
    if mine.empty:
        return None
    return Section("Your initiatives", (), Table(
        ("initiative", "status", "next milestone", "overdue", "stalled"),
        tuple((r.title, r.status, f"{_cell(r.next_milestone)} {_cell(r.next_planned)}",
               str(r.overdue), "stalled" if r.stalled else "—")
              for r in mine.sort_values("initiative_id").itertuples())))


def manager_open_cases(data: DigestData, scope: DigestScope) -> Section | None:
    """Open cases of the manager's clients, with their clocks."""
    found = _open_cases(data)
    mine = found[found["account_manager"] == scope.key] if not found.empty else found
    if mine.empty:
        return None
    return Section("Open cases of your clients", (), Table(
        ("client", "trigger", "owner", "status", "acknowledge by", "close by", "clock"),
        _case_rows(mine.sort_values(["client_id", "opened_at"]).head(50), "client_id",
                   "trigger", "owner")))


SECTIONS: dict[str, list[SectionBuilder]] = {
    "daily": [new_detractors, cases_overdue_and_escalated, unowned_findings, quality_failures,
              events_awaiting_surveys, acknowledgements_overdue, clients_at_risk,
              staff_at_risk],
    "weekly": [kpi_summary, metric_trends, pareto_section, top_drilldowns,
               initiatives_section, implementation_report_section, initiative_effects_section,
               money_link_section, monitor_findings, automatic_share, clients_at_risk,
               staff_at_risk],
    "owner": [owner_cases, owner_findings, owner_initiatives],
    "manager": [manager_scores, manager_open_cases, manager_findings],
}
"""Each kind's section builders, in order; each stage's builders are its own functions."""


# --- rendering, saving, sending -------------------------------------------------------------

@dataclass(frozen=True)
class Digest:
    """A rendered digest: subject, plain text, HTML (images by ``cid:``) and the images."""

    scope: DigestScope
    subject: str
    text: str
    html: str
    images: dict[str, bytes]
    says_something: bool


def sections_of(data: DigestData, scope: DigestScope,
                builders: Iterable[SectionBuilder] | None = None) -> list[Section]:
    """The sections a scope's builders give (those that return one)."""
    made = (b(data, scope) for b in (builders if builders is not None
                                    else SECTIONS[scope.kind]))
    return [s for s in made if s is not None]


def render_digest(data: DigestData, scope: DigestScope, sections: list[Section]) -> Digest:
    """The digest of ``sections`` as an e-mail (``mail/templates/en/digest.*.j2``)."""
    from cx_tasks.mail.render import render_mail

    period = f"{data.start:%Y-%m-%d %H:%M} to {data.end:%Y-%m-%d %H:%M} UTC"
    shown = [s for s in sections if s.says_something]
    mail = render_mail("digest", "en", {
        "title": scope.title, "period": period, "sections": shown,
        "footer": f"{scope.kind} digest for {scope.key}"})
    images = {s.chart.content_id: s.chart.png for s in shown if s.chart is not None}
    return Digest(scope, mail.subject, mail.text, mail.html or "", images, bool(shown))


def slug(text: str) -> str:
    """A file-name-safe name: ASCII letters, digits, underscores and dashes, plus a short
    hash when the text had other characters (so two Cyrillic names never share a file)."""
    plain = re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-").lower()
    if plain == text.lower():
        return plain or "digest"
    return f"{plain or 'x'}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def save_digest(digest: Digest, folder: Path) -> Path:
    """Write the digest as ``<folder>/<slug>.html`` with its images beside it (the file
    links them by name instead of ``cid:``); return the HTML file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug(digest.scope.key)}.html"
    html = digest.html
    for content_id, png in digest.images.items():
        name = f"{slug(digest.scope.key)}-{content_id}"
        (folder / name).write_bytes(png)
        html = html.replace(f'src="cid:{content_id}"', f'src="{name}"')
    path.write_text(html, encoding="utf-8")
    return path


def digest_key(scope: DigestScope, start: datetime, recipient: str) -> str:
    """The outbox key: one digest per kind, scope, period and recipient."""
    return f"digest:{scope.kind}:{scope.key}:{start.isoformat()}:{recipient}"


def send_digest(conn: Any, digest: Digest, start: datetime, end: datetime) -> int:
    """Enqueue the digest to each of its recipients once; return how many were new."""
    from cx_tasks.mail.outbox import enqueue

    images = {cid: ("image/png", png) for cid, png in digest.images.items()}
    return sum(enqueue(conn, idempotency_key=digest_key(digest.scope, start, recipient),
                       kind="digest", recipient=recipient, subject=digest.subject,
                       body_text=digest.text, body_html=digest.html, created_at=end,
                       inline_images=images)
               for recipient in digest.scope.recipients)


def period_folder(data_dir: Path, kind: str, start: datetime) -> Path:
    """Where a period's digests of a kind are saved: ``<data>/digests/<kind>/<start>``."""
    return data_dir / "digests" / kind / f"{start:%Y-%m-%dT%H%M}"
