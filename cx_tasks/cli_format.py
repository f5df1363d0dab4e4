"""What every ``cx`` command shares: one line and exit code 2 for bad input, the warehouse
opened or a line saying where it was looked for, and tables that stay readable at 80 columns.

Bad input (an unknown client, owner, window or feedback item, a date that does not parse)
ends the command with one line on standard error, ``what is wrong: what is accepted``, and
exit code ``BAD_INPUT`` (2, as for a bad option): never a traceback, never an empty table.

Stored text (client names, comments, findings, evidence) is data, never Rich markup: every
cell and every interpolated value goes through ``Text`` or ``escape``, so a comment holding
``[/]`` prints as written and ``[link=…]`` stays text. Missing values print ``MISSING``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from cx_tasks.config import Settings

BAD_INPUT = 2
"""Exit code of a command refused for its input (typer's own code for a bad option)."""
MISSING = "-"
"""How a missing value (None, NaN, NaT) prints."""
ELLIPSIS = "…"
TEXT_MIN_WIDTH = 16
"""The least a column of sentences is narrowed to before the one-word columns give way."""
MIN_WIDTH = 6
"""The least any column is narrowed to."""

errors = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """End the command: ``message`` as one line on standard error, exit code 2."""
    errors.print(Text(" ".join(message.split()), style="red"))
    raise typer.Exit(BAD_INPUT)


def listed(values: Iterable[object], most: int = 10) -> str:
    """Values for an error line: comma-separated, the first ``most`` and a count of the rest."""
    items = [str(v) for v in values]
    shown = ", ".join(items[:most])
    return f"{shown} and {len(items) - most} more" if len(items) > most else shown


def parse_day(text: str, option: str) -> date:
    """``text`` as a calendar day (YYYY-MM-DD), or fail naming ``option`` and the format."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option} {text!r} is not a date: give it as YYYY-MM-DD, e.g. 2026-11-01")


def wall_clock() -> datetime:
    """Now, aware UTC. The ``cx`` commands are an edge: the one place they read the clock,
    to stamp what a person does and to default a command's day (its UTC date)."""
    return datetime.now(UTC)


def day_or_today(text: str | None, option: str) -> date:
    """``text`` as a YYYY-MM-DD day (or a one-line error naming ``option``), today (UTC)
    when None."""
    return wall_clock().date() if text is None else parse_day(text, option)


def require(value: object, accepted: Iterable[object], what: str, hint: str = "") -> None:
    """Fail unless ``value`` is one of ``accepted``: names the unknown ``what`` and what is
    accepted (``none yet`` when nothing is), with an optional ``hint``."""
    known = list(accepted)
    if value in known:
        return
    choices = listed(known) if known else "none yet"
    fail(f"unknown {what} {value!r}: known are {choices}" + (f"; {hint}" if hint else ""))


def shorten(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters, ending in ``…`` when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1].rstrip() + ELLIPSIS


def is_missing(value: object) -> bool:
    """None, NaN and NaT (pandas' missing values) are missing."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NaTType", "NAType")


def number(value: float) -> str:
    """A float for a table: thousands separated, three decimals below 100, one below 10,000,
    none above (1,036,346 RUB needs no kopecks; a share of 0.793 needs its decimals)."""
    size = abs(value)
    decimals = 3 if size < 100 else 1 if size < 10_000 else 0
    return f"{value:,.{decimals}f}"


def cell_text(value: object) -> str:
    """A table cell's text: ``-`` when missing, floats by ``number``, a moment at midnight
    as its day and other moments to the minute, everything else as ``str``."""
    if is_missing(value):
        return MISSING
    if isinstance(value, float):
        return number(value)
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d}" if value.time() == time() else f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def column_widths(natural: list[int], wraps: list[bool], width: int) -> list[int] | None:
    """Widths that fit a table of columns of ``natural`` widths into ``width`` terminal
    columns (None when it fits as is): the columns of sentences (``wraps``) are narrowed
    first, down to ``TEXT_MIN_WIDTH``; then the one-word columns give way, each keeping at
    least ``MIN_WIDTH`` (their cut cells end in ``…``)."""
    room = width - (3 * len(natural) + 1)  # a border and two spaces of padding per column
    if sum(natural) <= room:
        return None
    fixed = sum(n for n, w in zip(natural, wraps, strict=True) if not w)
    text = [n for n, w in zip(natural, wraps, strict=True) if w]
    floor = [min(n, TEXT_MIN_WIDTH) for n in text]
    spare = room - fixed
    if spare >= sum(floor):
        extra = spare - sum(floor)
        wanted = [n - f for n, f in zip(text, floor, strict=True)]
        share = [f + extra * want // max(sum(wanted), 1) for f, want in zip(floor, wanted,
                                                                           strict=True)]
        shares = iter(share)
        return [next(shares) if w else n for n, w in zip(natural, wraps, strict=True)]
    left = max(room - sum(floor), 0)
    scale = left / max(fixed, 1)
    shares = iter(floor)
    return [next(shares) if w else max(MIN_WIDTH, int(n * scale))
            for n, w in zip(natural, wraps, strict=True)]


def frame_table(frame: pd.DataFrame, title: str, width: int | None = None) -> Table | Text:
    """A data frame as a Rich table fitted to ``width`` columns (the terminal's by default,
    ``column_widths``): numbers right-aligned; a column of single words (ids, days, numbers,
    classes) kept on one line, a column of sentences wrapped; a cut cell ends in ``…``.
    Nothing in it is read as markup. No rows: the line ``<title>: none``, not an empty
    table."""
    if frame.empty:
        return Text(f"{title}: none")
    table = Table(title=escape(title), title_justify="left")
    cells = [[cell_text(value) for value in column] for _, column in frame.items()]
    wraps = [any(len(text.split()) > 1 for text in texts) for texts in cells]
    natural = [max([cell_len(word) for word in str(column).split()] if wrap else
                   [cell_len(str(column))], default=0) for column, wrap in zip(
                       frame.columns, wraps, strict=True)]
    natural = [max([header, *(cell_len(text) for text in texts)])
               for header, texts in zip(natural, cells, strict=True)]
    widths = column_widths(natural, wraps, width or Console().width)
    for index, column in enumerate(frame.columns):
        numeric = frame[column].dtype.kind in "iuf"
        table.add_column(escape(str(column)), justify="right" if numeric else "left",
                         overflow="ellipsis", no_wrap=not wraps[index],
                         width=None if widths is None else widths[index])
    for row in zip(*cells, strict=True):
        table.add_row(*[Text(text) for text in row])
    return table


def shown_url(url: str) -> str:
    """A database URL as it may be printed: its password masked (``***``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def warehouse(config: Settings, *, creating: bool = False) -> Engine:
    """The warehouse engine, or fail in one line naming the data folder and URL it tried:
    a SQLite file that does not exist is not created (unless ``creating``, for `cx migrate`);
    a URL that does not parse, a driver that is not installed, a server that does not answer
    and a warehouse without a schema (unless ``creating``) are each named as such."""
    from pathlib import Path

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cx_tasks.warehouse.db import engine_for

    how = "set CX_DATA_DIR or CX_WAREHOUSE_URL, or run `cx demo` to make one"
    try:
        url = make_url(config.warehouse_url)
    except (SQLAlchemyError, ValueError) as error:
        fail(f"the warehouse URL does not parse (data folder {config.data_dir}): {error}; {how}")
    tried = f"(data folder {config.data_dir}, warehouse {shown_url(config.warehouse_url)})"
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not creating and not Path(str(url.database)).exists():
        fail(f"no warehouse {tried}: {how}")
    try:
        engine = engine_for(config.warehouse_url)
        tables = set(inspect(engine).get_table_names())
    except (SQLAlchemyError, ImportError) as error:
        cause = getattr(error, "orig", None) or error
        first_line = (str(cause).strip().splitlines() or [""])[0]
        fail(f"cannot open the warehouse {tried}: {type(cause).__name__}: {first_line}; {how}")
    if "schema_version" not in tables and not creating:
        fail(f"the warehouse has no schema {tried}: run `cx migrate`, or {how}")
    return engine
