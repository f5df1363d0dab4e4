"""The CX view: read-only pages of KPIs with their intervals, close-the-loop cases with their
clocks, initiatives, findings and the digest archive, as a FastAPI app. Inside Airflow the
plugin ``cx_airflow.cx_view`` mounts it in the api-server and shows it under a "CX" entry
of the navigation; every request must carry a user that ``authorize`` accepts (there:
Airflow's own JWT, header or session cookie), else 401. The survey response app stays the
only part meant for the internet.

``now`` (aware UTC; the wall clock by default: the view answers real requests) decides
which clocks have run out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from cx_tasks.config import Settings
from cx_tasks.surveys.app import Clock, wall_clock

Authorize = Callable[[Request], Awaitable[str | None]]
"""Request -> the user's name, or None when the request carries no valid login."""

NAV = (("kpis", "KPIs"), ("cases", "Cases"), ("initiatives", "Initiatives"),
       ("findings", "Findings"), ("digests", "Digest archive"))


@cache
def _template() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("cx_tasks.monitor", "templates"),
                      autoescape=True, undefined=StrictUndefined)
    return env.get_template("page.html.j2")


def page(title: str, root: str, lines: list[str], tables: list[tuple[str, Any]]) -> str:
    """A page of the view: navigation, title, lines and tables (every value escaped)."""
    nav = [(f"{root}/{path}", label) for path, label in NAV]
    return _template().render(title=title, nav=nav, lines=lines, tables=tables)


def kpi_page_tables(figures: Any, min_n: int) -> list[tuple[str, Any]]:
    """Per period, a table of groups by KPI with values and intervals."""
    from cx_tasks.monitor.digests import Table
    from cx_tasks.monitor.display import LABELS, figure_text

    tables = []
    kpis = [k for k in LABELS if k in set(figures["kpi"])]
    for (period, start), part in figures.groupby(["period", "period_start"], sort=True):
        rows = []
        for group, rows_of in part.groupby("group_key", sort=True):
            by_kpi = {r.kpi: r for r in rows_of.itertuples()}
            rows.append((str(group), *(
                f"{figure_text(k, r.value, r.low, r.high, r.n, min_n, r.change)} (n {r.n})"
                if (r := by_kpi.get(k)) is not None else "—" for k in kpis)))
        tables.append((f"{period} from {start}", Table(("group", *(LABELS[k] for k in kpis)),
                                                      tuple(rows))))
    return tables


def _cells(*values: Any) -> tuple[str, ...]:
    """Values as table cells: missing as an em dash, times to the minute."""
    from datetime import datetime

    return tuple("—" if v is None else f"{v:%Y-%m-%d %H:%M}" if isinstance(v, datetime)
                 else str(v) for v in values)


def cases_table(conn: Any, clocks: Any, now: Any, everything: bool) -> Any:
    """Cases (open ones unless ``everything``), oldest first, with their clocks at ``now``
    and what the client said."""
    from sqlalchemy import select

    from cx_tasks.feedback.acknowledgement import excerpt
    from cx_tasks.implement.escalation import clock_due
    from cx_tasks.implement.report import is_overdue, stored_cases
    from cx_tasks.monitor.digests import Table
    from cx_tasks.warehouse.schema import cases, feedback

    said = dict(conn.execute(select(cases.c.feedback_id, feedback.c.text).join(
        feedback, feedback.c.feedback_id == cases.c.feedback_id)).all())
    rows = tuple(_cells(
        c.case_id, c.client_id, c.trigger, c.owner_person or c.owner, c.status, c.opened_at,
        clock_due(c, "acknowledge", clocks) if c.acknowledged_at is None else c.acknowledged_at,
        clock_due(c, "close", clocks) if c.closed_at is None else c.closed_at,
        "overdue" if is_overdue(c, clocks, now) else "", excerpt(said.get(c.feedback_id)))
        for c in stored_cases(conn, open_only=not everything))
    return Table(("case", "client", "trigger", "owner", "status", "opened",
                  "acknowledge by / acknowledged", "close by / closed", "clock",
                  "what the client said"), rows)


def initiatives_table(conn: Any, now: Any, stalled_after_days: int) -> Any:
    """Every initiative: owner, status, milestones planned / reached, overdue, stalled,
    complaints, clients and progress e-mails."""
    from cx_tasks.implement.report import initiative_rows, is_stalled
    from cx_tasks.monitor.digests import Table

    rows = tuple(_cells(
        i.title, i.owner_person or i.owner, i.status,
        "; ".join(f"{m.title} {m.planned_on or '—'} / {m.reached_on or '—'}"
                  + (" (overdue)" if m.overdue else "") for m in i.milestones),
        i.overdue, "stalled" if is_stalled(i, now, stalled_after_days) else "—",
        i.complaints, i.clients, i.progress_emails)
        for i in initiative_rows(conn, now.date()))
    return Table(("initiative", "owner", "status", "milestones (planned / reached)",
                  "overdue", "stalled", "complaints", "clients", "progress e-mails"), rows)


def create_view_app(config: Settings, authorize: Authorize, root: str = "",
                    now: Clock = wall_clock) -> FastAPI:
    """The view's FastAPI app over ``config``'s warehouse and data folder; ``root`` is the
    prefix it is mounted under (links are absolute)."""
    from sqlalchemy import select

    from cx_tasks.implement.rules import implement_rules
    from cx_tasks.monitor.digests import Table
    from cx_tasks.monitor.history import latest_version, stored_figures
    from cx_tasks.monitor.rules import monitor_rules
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.schema import finding_states, findings

    app = FastAPI(title="CX Loop view", docs_url=None, redoc_url=None, openapi_url=None)
    archive = (config.data_dir / "digests").resolve()

    async def user(request: Request) -> str:
        name = await authorize(request)
        if not name:
            raise HTTPException(401, "Log in to Airflow to see the CX view.")
        return name

    @app.get("/")
    async def index(_: str = Depends(user)) -> RedirectResponse:
        return RedirectResponse(f"{root}/kpis")

    @app.get("/kpis", response_class=HTMLResponse)
    async def kpis(level: str = "segment", period: str = "t90",
                   who: str = Depends(user)) -> str:
        with engine_for(config.warehouse_url).connect() as conn:
            version = latest_version(conn)
            figures = (stored_figures(conn, version, {"level": level, "period": period})
                       if version else None)
        if figures is None or figures.empty:
            return page("KPIs", root, ["No KPI recalculation stored yet."], [])
        starts = sorted(set(figures["period_start"]))[-3:]
        figures = figures[figures["period_start"].isin(starts)]
        return page(f"KPIs by {level}, {period}", root,
                    [f"Version {version}; 95% intervals; ▲▼ a significant change; "
                     f"signed in as {who}."],
                    kpi_page_tables(figures, monitor_rules().kpi.min_n))

    @app.get("/cases", response_class=HTMLResponse)
    async def cases_page(everything: bool = False, _: str = Depends(user)) -> str:
        moment = now().replace(tzinfo=None)
        clocks = implement_rules(config.rules_dir).cases.clocks
        with engine_for(config.warehouse_url).connect() as conn:
            table = cases_table(conn, clocks, moment, everything)
        overdue = sum(row[8] == "overdue" for row in table.rows)
        return page("Cases", root, [
            f"{len(table.rows)} {'cases' if everything else 'open cases'}, {overdue} overdue "
            f"at {moment:%Y-%m-%d %H:%M} UTC (clocks: acknowledge {clocks.acknowledge_hours} h, "
            f"close {clocks.close_hours} h)."],
            [("All cases" if everything else "Open cases", table)])

    @app.get("/initiatives", response_class=HTMLResponse)
    async def initiatives_page(_: str = Depends(user)) -> str:
        moment = now().replace(tzinfo=None)
        stalled = implement_rules(config.rules_dir).initiatives.stalled_after_days
        with engine_for(config.warehouse_url).connect() as conn:
            table = initiatives_table(conn, moment, stalled)
        return page("Initiatives", root, [
            f"{len(table.rows)} initiatives; stalled: open with no change for {stalled} days."],
            [("The register", table)])

    @app.get("/findings", response_class=HTMLResponse)
    async def findings_page(_: str = Depends(user)) -> str:
        with engine_for(config.warehouse_url).connect() as conn:
            rows = conn.execute(select(findings.c.kind, findings.c.client_id,
                                       findings.c.summary, findings.c.owner,
                                       finding_states.c.status, findings.c.due_on)
                                .join_from(findings, finding_states, finding_states.c.finding_id
                                           == findings.c.finding_id, isouter=True)
                                .order_by(findings.c.due_on, findings.c.finding_id)).all()
        table = Table(("kind", "client", "summary", "owner", "status", "due"),
                      tuple(_cells(*row) for row in rows))
        return page("Findings", root, [f"{len(rows)} findings."], [("All findings", table)])

    @app.get("/digests", response_class=HTMLResponse)
    async def digests(_: str = Depends(user)) -> str:
        files = sorted(archive.rglob("*.html"), reverse=True) if archive.is_dir() else []
        rows = tuple((str(p.parent.relative_to(archive)),
                      {"href": f"{root}/digests/{p.relative_to(archive)}", "text": p.name})
                     for p in files[:500])
        return page("Digest archive", root, [f"{len(files)} digests saved."],
                    [("Digests", Table(("period", "digest"), rows))])

    @app.get("/digests/{path:path}")
    async def digest_file(path: str, _: str = Depends(user)) -> FileResponse:
        target = (archive / path).resolve()
        if not target.is_file() or not target.is_relative_to(archive):
            raise HTTPException(404, "no such digest")
        return FileResponse(target)

    return app
