"""The CX view: the monitor's pages (KPIs with their intervals, findings, the digest archive)
as a FastAPI app. Inside Airflow the plugin ``cx_airflow.cx_view`` mounts it in the
api-server and shows it under a "CX" entry of the navigation; every request must carry a
user that ``authorize`` accepts (there: Airflow's own JWT, header or session cookie), else
401. The survey response app stays the only part meant for the internet.

Cases and initiatives join the navigation when the implement stage is merged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from cx_tasks.config import Settings

Authorize = Callable[[Request], Awaitable[str | None]]
"""Request -> the user's name, or None when the request carries no valid login."""

NAV = (("kpis", "KPIs"), ("findings", "Findings"), ("digests", "Digest archive"))


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


def create_view_app(config: Settings, authorize: Authorize, root: str = "") -> FastAPI:
    """The view's FastAPI app over ``config``'s warehouse and data folder; ``root`` is the
    prefix it is mounted under (links are absolute)."""
    from sqlalchemy import select

    from cx_tasks.monitor.digests import Table
    from cx_tasks.monitor.history import latest_version, stored_figures
    from cx_tasks.monitor.rules import monitor_rules
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.schema import findings

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

    @app.get("/findings", response_class=HTMLResponse)
    async def findings_page(_: str = Depends(user)) -> str:
        with engine_for(config.warehouse_url).connect() as conn:
            rows = conn.execute(select(findings.c.kind, findings.c.client_id,
                                       findings.c.summary, findings.c.owner,
                                       findings.c.due_on)
                                .order_by(findings.c.due_on, findings.c.finding_id)).all()
        table = Table(("kind", "client", "summary", "owner", "due"), tuple(
            tuple("—" if v is None else str(v) for v in row) for row in rows))
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
