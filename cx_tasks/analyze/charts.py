"""Pareto charts for the digests: bars per process class, the cumulative share as a line,
the cut-off dashed, the vital few highlighted (PNG, drawn with matplotlib's Agg canvas)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd

from cx_tasks.analyze.pareto import process_label

VITAL_COLOUR = "#c0392b"
OTHER_COLOUR = "#95a5a6"
LINE_COLOUR = "#2c3e50"
_MEASURE_AXIS = {"count": "Complaints", "revenue": "Affected revenue"}


def chart_path(charts_dir: Path, period_start: date, period_end: date, segment: str,
               measure: str) -> Path:
    """The chart file of one period, segment and measure:
    ``pareto_<start>_<end>_<segment>_<measure>.png`` (segment reduced to letters, digits,
    ``-`` and ``_``)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", segment).strip("-") or "segment"
    return charts_dir / f"pareto_{period_start:%Y%m%d}_{period_end:%Y%m%d}_{slug}_{measure}.png"


def pareto_chart(frame: pd.DataFrame, path: Path, title: str, *, cutoff: float) -> Path:
    """Draw the Pareto chart of one segment and measure to ``path`` (PNG, 960x540) and
    return it: bars = the measure's value per process class in rank order (vital few in
    red), line = cumulative share on a 0-100% right axis, dashed line = ``cutoff``.

    ``frame``: the Pareto rows of one period, segment and measure (``pareto_table``).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator, PercentFormatter, StrMethodFormatter

    rows = frame.sort_values("rank")
    measure = rows["measure"].iloc[0] if len(rows) else "count"
    values = rows["complaints"] if measure == "count" else rows["revenue"]
    labels = [process_label(pc) for pc in rows["process_class"]]
    positions = range(len(rows))

    figure = Figure(figsize=(9.6, 5.4), dpi=100)
    bars = figure.add_subplot()
    bars.bar(positions, values, color=[VITAL_COLOUR if v else OTHER_COLOUR
                                       for v in rows["vital_few"]])
    bars.set_xticks(list(positions), labels, rotation=20, ha="right")
    bars.set_ylabel(_MEASURE_AXIS[measure])
    if measure == "count":
        bars.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        bars.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    bars.set_title(title)
    cumulative = bars.twinx()
    cumulative.plot(positions, rows["cumulative_share"] * 100, color=LINE_COLOUR, marker="o",
                    label="Cumulative share")
    cumulative.axhline(cutoff * 100, color=LINE_COLOUR, linestyle="--", linewidth=1,
                       label=f"Cut-off {cutoff:.0%}")
    cumulative.set_ylim(0, 105)
    cumulative.yaxis.set_major_formatter(PercentFormatter(100))
    cumulative.set_ylabel("Cumulative share")
    handles, _ = cumulative.get_legend_handles_labels()
    cumulative.legend(handles=[Patch(color=VITAL_COLOUR, label="Vital few"),
                               Patch(color=OTHER_COLOUR, label="Other process classes"),
                               *handles], loc="upper center", bbox_to_anchor=(0.5, -0.2),
                      ncols=4, frameon=False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})
    return path


def pareto_charts(table: pd.DataFrame, charts_dir: Path, *, cutoff: float) -> list[Path]:
    """Draw every period, segment and measure of a stored Pareto table (``stored_pareto``)
    under ``charts_dir`` with ``chart_path`` names; return the files in that order."""
    drawn = []
    for (start, end, segment, measure), rows in table.groupby(
            ["period_start", "period_end", "segment", "measure"], sort=True):
        title = (f"Pareto of {_MEASURE_AXIS[measure].lower()} by process class - "
                 f"segment {segment}, {start:%Y-%m-%d} to {end:%Y-%m-%d} (exclusive)")
        drawn.append(pareto_chart(rows, chart_path(charts_dir, start, end, segment, measure),
                                  title, cutoff=cutoff))
    return drawn
