"""Engines, versioned migrations and idempotent upserts for the warehouse."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Select,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from cx_tasks.warehouse.schema import (
    ADJUST_TABLES,
    FEEDBACK_CLASSES_V8_COLUMNS,
    KEEP_ON_UPDATE,
    MONITOR_TABLES,
    OUTBOX_CLAIM_INDEX,
    OUTBOX_V2_COLUMNS,
    OUTBOX_V6_COLUMNS,
    RISK_TABLES,
    STAFF_TABLES,
    V2_TABLES,
    V3_TABLES,
    V5_TABLES,
    V7_TABLES,
    V9_TABLES,
    V14_TABLES,
    feedback_classes,
    feedback_reviews,
    initiative_corrections,
    initiative_effects,
    metadata,
    outbox,
    schema_version,
)

if TYPE_CHECKING:  # pandas stays out of the DAG files' parse
    import pandas as pd


@cache
def engine_for(url: str) -> Engine:
    """One engine per URL per process; SQLite gets WAL and a busy timeout."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def began(bind: Engine | Connection) -> AbstractContextManager[Connection]:
    """A transaction on an engine, or the caller's connection as it is (its transaction)."""
    return bind.begin() if isinstance(bind, Engine) else nullcontext(bind)


def _v1_initial(conn: Connection) -> None:
    later = (*V2_TABLES, *V3_TABLES, *V5_TABLES, *V7_TABLES, *V9_TABLES, *MONITOR_TABLES,
             *ADJUST_TABLES, *V14_TABLES, *RISK_TABLES, *STAFF_TABLES)
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t not in later])


def _add_columns(conn: Connection, table: Table, names: Iterable[str]) -> None:
    """Add the named columns of ``table``'s definition that the database lacks."""
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in present:
            kind = table.c[name].type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))


def _v2_surveys(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V2_TABLES))
    _add_columns(conn, outbox, OUTBOX_V2_COLUMNS)


def _v3_feedback(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V3_TABLES))


def _v4_outbox_claim_index(conn: Connection) -> None:
    OUTBOX_CLAIM_INDEX.create(conn, checkfirst=True)


def _v5_analysis(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V5_TABLES))


def _v6_outbox_promises(conn: Connection) -> None:
    _add_columns(conn, outbox, [c.name for c in OUTBOX_V6_COLUMNS])


def _v7_collection_shares(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V7_TABLES))


def _v8_feedback_polarity(conn: Connection) -> None:
    _add_columns(conn, feedback_classes, FEEDBACK_CLASSES_V8_COLUMNS)


def _v9_implement(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V9_TABLES))


def _v10_monitor(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(MONITOR_TABLES))


def _v11_adjust(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(ADJUST_TABLES))


def _v12_reviews_without_complaint(conn: Connection) -> None:
    """``feedback_reviews`` gains ``polarity`` (earlier reviews: ``negative``) and may leave
    the group and process class empty (a person's "no complaint")."""
    if "polarity" in {c["name"] for c in inspect(conn).get_columns(feedback_reviews.name)}:
        return  # created by migration 5 with today's definition
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE feedback_reviews ALTER COLUMN dissatisfaction_group "
                          "DROP NOT NULL, ALTER COLUMN process_class DROP NOT NULL, "
                          "ADD COLUMN polarity VARCHAR(16) NOT NULL DEFAULT 'negative'"))
        conn.execute(text("ALTER TABLE feedback_reviews ALTER COLUMN polarity DROP DEFAULT"))
        return
    # SQLite cannot drop NOT NULL: the table is rebuilt under its definition
    conn.execute(text("ALTER TABLE feedback_reviews RENAME TO feedback_reviews_v11"))
    feedback_reviews.create(conn)
    conn.execute(text("INSERT INTO feedback_reviews (feedback_id, dissatisfaction_group, "
                      "process_class, reviewer, reviewed_at, polarity) SELECT feedback_id, "
                      "dissatisfaction_group, process_class, reviewer, reviewed_at, 'negative' "
                      "FROM feedback_reviews_v11"))
    conn.execute(text("DROP TABLE feedback_reviews_v11"))


def _v14_metric_trends(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V14_TABLES))


def _v15_at_risk(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(RISK_TABLES))
    if conn.dialect.name == "postgresql":  # SQLite does not enforce a VARCHAR's length
        for table, column in ((initiative_effects, "initiative_id"),
                              (initiative_corrections, "initiative_id"),
                              (initiative_corrections, "owner")):
            conn.execute(text(f"ALTER TABLE {table.name} ALTER COLUMN {column} TYPE "
                              f"{table.c[column].type.compile(dialect=conn.dialect)}"))


def _v16_staff(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(STAFF_TABLES))


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "staging, quarantine, load log, quality runs, metrics, events, outbox", _v1_initial),
    (2, "survey invitations, skips, responses, answers, unsubscribes, feedback; outbox "
        "contact, headers and retry time", _v2_surveys),
    (3, "informal feedback, feedback inbox files, feedback acknowledgements", _v3_feedback),
    (4, "outbox index in claim order", _v4_outbox_claim_index),
    (5, "analysis: feedback classes and reviews, Pareto causes, findings, factor scores, "
        "model versions, predicted index, drill-down", _v5_analysis),
    (6, "outbox staleness limit and link expiry, checked at sending", _v6_outbox_promises),
    (7, "collection shares of the customer-journey map's indicators", _v7_collection_shares),
    (8, "feedback classes: polarity and recurring (issue 15)", _v8_feedback_polarity),
    (9, "implement: cases, their history and escalations, finding states, initiatives, "
        "their links, milestones and history, progress notices", _v9_implement),
    (10, "monitor: past answers and their files, KPI runs and figures", _v10_monitor),
    (11, "adjust: initiative effects and corrections, model rounds", _v11_adjust),
    (12, "feedback reviews: polarity, a person's 'no complaint' (issue 15)",
     _v12_reviews_without_complaint),
    (14, "monitor: the computable metrics' trends per segment and period, versioned",
     _v14_metric_trends),
    (15, "adjust: at-risk lists; initiative effects and corrections take the register's "
         "initiative ids and owners", _v15_at_risk),
    (16, "staff layer: staged HR staff and workload, staff pulse answers",
     _v16_staff),
]


def migrate(engine: Engine) -> int:
    """Apply every migration the warehouse has not seen yet; return the current version."""
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        done = set(conn.scalars(select(schema_version.c.version)))
        for version, description, step in MIGRATIONS:
            if version not in done:
                step(conn)
                conn.execute(schema_version.insert().values(version=version,
                                                            description=description))
    return max(v for v, _, _ in MIGRATIONS)


def _dialect_insert(dialect: str) -> Callable[[Table], Insert]:
    """The ``INSERT`` construct with ``ON CONFLICT`` of the warehouse's dialect."""
    return {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]


def upsert_statement(dialect: str, table: Table, *, newer_than: str | None = None,
                     rows: Select[Any] | None = None) -> Insert:
    """``INSERT ... ON CONFLICT (primary key) DO UPDATE`` of every column of ``table``
    except the key and the columns flagged ``KEEP_ON_UPDATE``.

    With ``newer_than`` the update only happens when the incoming row's value in that
    column is at least as new as the stored one. With ``rows`` (a select of every column
    of ``table``, in its order) the rows come from that query instead of bound values.
    """
    insert = _dialect_insert(dialect)
    keys = [c.name for c in table.primary_key.columns]
    stmt = insert(table)
    if rows is not None:
        stmt = stmt.from_select([c.name for c in table.columns], rows)
    updates = {c.name: stmt.excluded[c.name] for c in table.columns
               if c.name not in keys and not c.info.get(KEEP_ON_UPDATE)}
    where = None
    if newer_than is not None:
        where = stmt.excluded[newer_than] >= table.c[newer_than]
    if updates:
        return stmt.on_conflict_do_update(index_elements=keys, set_=updates, where=where)
    return stmt.on_conflict_do_nothing(index_elements=keys)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts to bind, every missing value (NaN, NA, NaT) as None (NULL)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    newer_than: str | None = None,
    chunk_size: int = 20_000,
) -> int:
    """Insert rows, or update the row with the same primary key; return rows written.

    With ``newer_than`` (a column name, e.g. ``updated_at``) an existing row is only
    replaced by one whose value in that column is at least as new, so re-running an
    old interval never overwrites a newer version of the same row.
    """
    rows = list(rows)
    if not rows:
        return 0
    stmt = upsert_statement(conn.dialect.name, table, newer_than=newer_than)
    for start in range(0, len(rows), chunk_size):
        conn.execute(stmt, rows[start:start + chunk_size])
    return len(rows)


def insert_if_absent(
    conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]], *, chunk_size: int = 20_000
) -> int:
    """Insert the rows whose primary key is not stored yet (stored rows stay as they are);
    return how many were new."""
    rows = list(rows)
    insert = _dialect_insert(conn.dialect.name)
    keys = [c.name for c in table.primary_key.columns]
    stmt = insert(table).on_conflict_do_nothing(index_elements=keys)
    return sum(conn.execute(stmt, rows[start:start + chunk_size]).rowcount
               for start in range(0, len(rows), chunk_size))
