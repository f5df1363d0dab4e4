"""Warehouse tables (SQLAlchemy Core); every table has a natural key, every write upserts.

Staging tables (``stg_<source table>``) mirror the data contract column for column and
carry ``interval_start``, the data interval that FIRST loaded the row: a newer version of
the row replaces its columns but keeps that mark (``KEEP_ON_UPDATE``), so any stage can
ask "what was known by the end of interval X" and a rerun of X sees what its first run
saw. Nothing stores a wall-clock time of the run, so re-running an interval leaves the
warehouse identical.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from cx_tasks.collect.contract import SOURCE_TABLES, ColumnType, SourceTable

metadata = MetaData()

KEEP_ON_UPDATE = "keep_on_update"
"""Column ``info`` flag: an upsert never changes this column of a stored row."""

_SQL_TYPES: dict[ColumnType, type[TypeEngine]] = {
    "text": Text,
    "integer": Integer,
    "float": Float,
    "boolean": Boolean,
    "date": Date,
    "timestamp": DateTime,
}


def staging_name(source: str) -> str:
    """The staging table's name for a source table."""
    return f"stg_{source}"


def _staging_table(source: SourceTable) -> Table:
    """``stg_<source>``: the contract's columns and an index on every reference column
    (the nightly gate looks staged children up by their parent)."""
    referencing = {ref.column for ref in source.references}
    columns = [
        Column(c.name, _SQL_TYPES[c.type](), primary_key=c.name == source.key,
               nullable=c.name != source.key, index=c.name in referencing)
        for c in source.columns
    ]
    return Table(staging_name(source.name), metadata, *columns,
                 Column("interval_start", DateTime, nullable=False,
                        info={KEEP_ON_UPDATE: True}))


STAGING: dict[str, Table] = {s.name: _staging_table(s) for s in SOURCE_TABLES}

quarantine = Table(
    "quarantine", metadata,
    Column("source_table", String(64), primary_key=True),
    Column("interval_start", DateTime, primary_key=True),
    Column("row_key", String(200), primary_key=True),
    Column("rule", String(120), primary_key=True),
    Column("detail", Text),
    Column("payload", Text, nullable=False),
)

load_log = Table(
    "load_log", metadata,
    Column("source_table", String(64), primary_key=True),
    Column("interval_start", DateTime, primary_key=True),
    Column("interval_end", DateTime, nullable=False),
    Column("rows_in", Integer, nullable=False),
    Column("rows_loaded", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("max_updated_at", DateTime),
)

quality_runs = Table(
    "quality_runs", metadata,
    Column("interval_start", DateTime, primary_key=True),
    Column("interval_end", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("failed_expectations", Text, nullable=False),
    Column("results_path", Text),
    Column("skipped_checks", Text),
)

metric_values = Table(
    "metric_values", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("window_days", Integer, primary_key=True),
    Column("value", Float),
    Column("numerator", Float),
    Column("denominator", Float),
    Column("note", String(200)),
)

kpi_values = Table(
    "kpi_values", metadata,
    Column("kpi", String(64), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("value", Float, nullable=False),
    Column("detail", Text),
)

events = Table(
    "events", metadata,
    Column("event_id", String(200), primary_key=True),
    Column("event_type", String(32), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("contact_id", String(64)),
    Column("order_id", String(64)),
    Column("ref_id", String(64), nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("interval_start", DateTime, nullable=False),
    Column("payload", Text, nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("message_id", String(200), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    Column("contact_id", String(64)),
    Column("headers", Text),
    Column("next_attempt_at", DateTime),
)
OUTBOX_CLAIM_INDEX = Index("ix_outbox_claim", outbox.c.created_at, outbox.c.idempotency_key,
                           outbox.c.status, outbox.c.kind)
"""The delivery's claim order and the columns it filters on (migration 4): a claim walks it
from its cursor instead of reading every stored message (and, on SQLite, its bodies)."""
OUTBOX_V2_COLUMNS = ("contact_id", "headers", "next_attempt_at")
"""Outbox columns added by migration 2: the contact (an opt-out suppresses at send time),
extra headers as JSON (``List-Unsubscribe``), and the earliest retry after a 4xx answer."""

# --- surveys and feedback (migration 2) ------------------------------------------------------

_SURVEY_TARGET = ("event_id", "survey_id", "kind", "client_id", "contact_id", "role",
                  "language", "order_id", "content_key", "scheduled_at")


def _survey_target_columns() -> list[Column]:
    """The columns an invitation and a skipped candidate share (see surveys.targeting)."""
    types: dict[str, TypeEngine] = {"event_id": String(200), "survey_id": String(64),
                                    "kind": String(16), "client_id": String(64),
                                    "contact_id": String(64), "role": String(32),
                                    "language": String(8), "order_id": String(64),
                                    "content_key": String(200), "scheduled_at": DateTime()}
    required = {"survey_id", "kind", "client_id", "role", "scheduled_at"}
    return [Column(name, types[name], nullable=name not in required) for name in _SURVEY_TARGET]


survey_invitations = Table(
    "survey_invitations", metadata,
    Column("invitation_id", String(240), primary_key=True),
    *_survey_target_columns(),
    Column("planned_in", DateTime, nullable=False),
    Column("sent_at", DateTime),
    Column("answered_at", DateTime),
    Column("reminded_at", DateTime),
)

survey_skips = Table(
    "survey_skips", metadata,
    Column("invitation_id", String(240), primary_key=True),
    *_survey_target_columns(),
    Column("reason", String(40), nullable=False),
    Column("planned_in", DateTime, nullable=False),
)

survey_responses = Table(
    "survey_responses", metadata,
    Column("invitation_id", String(240), primary_key=True),
    Column("survey_id", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("comment", Text),
    Column("first_answered_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("submitted", Boolean, nullable=False, default=False),
)

survey_answers = Table(
    "survey_answers", metadata,
    Column("invitation_id", String(240), primary_key=True),
    Column("question_id", String(64), primary_key=True),
    Column("score", Integer, nullable=False),
    Column("answered_at", DateTime, nullable=False),
)

unsubscribes = Table(
    "unsubscribes", metadata,
    Column("contact_id", String(64), primary_key=True),
    Column("unsubscribed_at", DateTime, nullable=False),
    Column("channel", String(32), nullable=False),
)

feedback = Table(
    "feedback", metadata,
    Column("feedback_id", String(240), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("contact_id", String(64)),
    Column("role", String(32)),
    Column("text", Text),
    Column("scores", Text),
    Column("ref_id", String(240)),
    Column("occurred_at", DateTime, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)

V2_TABLES = (survey_invitations, survey_skips, survey_responses, survey_answers, unsubscribes,
             feedback)

# --- feedback intake and acknowledgement (migration 3) ---------------------------------------

informal_feedback = Table(
    "informal_feedback", metadata,
    Column("note_id", String(200), primary_key=True),
    Column("client_id", String(64)),
    Column("contact_email", String(320)),
    Column("contact_id", String(64)),
    Column("channel", String(32)),
    Column("text", Text),
    Column("score", Integer),
    Column("occurred_at", DateTime),
    Column("captured_by", String(120)),
    Column("captured_at", DateTime, nullable=False),
)
"""Informal feedback written by sales and support tools (the CSV drop folder's columns plus
the writer's ``note_id``); every column but the key is nullable because the intake, not
the table, validates a row (a bad one is quarantined). See docs/feedback-intake.md."""

feedback_inbox_files = Table(
    "feedback_inbox_files", metadata,
    Column("file_hash", String(64), primary_key=True),
    Column("file_name", Text, nullable=False),
    Column("rows_in", Integer, nullable=False),
    Column("rows_loaded", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("processed_at", DateTime, nullable=False),
)
"""One row per CSV file taken from the feedback drop folder, by the SHA-256 of its bytes:
a file dropped again (or a rerun) is not loaded twice."""

feedback_acknowledgements = Table(
    "feedback_acknowledgements", metadata,
    Column("feedback_id", String(240), primary_key=True),
    Column("reference", String(32), nullable=False, unique=True),
    Column("owner", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", String(40)),
    Column("decided_at", DateTime, nullable=False),
)
"""The acknowledgement decision per feedback, made once: ``acknowledged`` (an e-mail is in
the outbox under ``ack:<feedback_id>``) or ``not_acknowledged`` with the ``reason``."""

V3_TABLES = (informal_feedback, feedback_inbox_files, feedback_acknowledgements)

# --- analyze (migration 5) ---------------------------------------------------------------------

feedback_classes = Table(
    "feedback_classes", metadata,
    Column("feedback_id", String(240), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("dissatisfaction_group", String(32)),
    Column("process_class", String(32)),
    Column("cause", String(64)),
    Column("confidence", Float, nullable=False),
    Column("deterioration", String(32)),
    Column("evidence", Text, nullable=False),
    Column("classifier_version", String(64), nullable=False),
    Column("classified_on", Date, nullable=False),
)
"""One decision per piece of feedback: ``classified`` (group and process class set),
``review`` (confidence below the threshold: a person decides, nothing is guessed),
``reviewed`` (a person's decision from ``feedback_reviews``) or ``no_complaint`` (praise,
no dissatisfaction). ``deterioration`` names the
rule that moved it to the deterioration group (repeat, worsening, rate_test); ``evidence``
lists the terms and operational signals behind the decision."""

feedback_reviews = Table(
    "feedback_reviews", metadata,
    Column("feedback_id", String(240), primary_key=True),
    Column("dissatisfaction_group", String(32)),
    Column("process_class", String(32)),
    Column("reviewer", String(120), nullable=False),
    Column("reviewed_at", DateTime, nullable=False),
    Column("polarity", String(16), nullable=False),
)
"""A person's label for an item of the manual review queue (``cx review``); it overrides
the classifier and is what a learned model trains on. ``polarity`` ``negative``: a complaint
with its group and process class; ``positive`` (praise) or ``neutral`` (a question, request
or information): no complaint, no group, the process class spoken of if the person named
one (since migration 12; before, every review was a complaint)."""

pareto_causes = Table(
    "pareto_causes", metadata,
    Column("period_start", Date, primary_key=True),
    Column("period_end", Date, primary_key=True),
    Column("segment", String(64), primary_key=True),
    Column("measure", String(16), primary_key=True),
    Column("process_class", String(32), primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("complaints", Integer, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("share", Float, nullable=False),
    Column("cumulative_share", Float, nullable=False),
    Column("vital_few", Boolean, nullable=False),
)
"""Pareto ranking of process classes per period ``[start, end)`` and segment (``all`` for
every segment), by ``measure`` ``count`` (complaints) or ``revenue`` (affected revenue);
``vital_few`` marks the smallest set covering the cut-off share (default 80%)."""

findings = Table(
    "findings", metadata,
    Column("finding_id", String(200), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("client_id", String(64)),
    Column("segment", String(64)),
    Column("process_class", String(32)),
    Column("factor", String(64)),
    Column("metric", String(64)),
    Column("summary", Text, nullable=False),
    Column("owner", String(64)),
    Column("owner_person", String(200)),
    Column("found_on", Date, nullable=False, info={KEEP_ON_UPDATE: True}),
    Column("due_on", Date),
)
"""What the analysis found and who acts on it: a complaint cluster, a metric crossing its
threshold, or a drop in a client's satisfaction. ``owner`` is null for an unowned finding
(listed as such). The key names the subject, not the day, so a finding that persists is
one row: ``found_on`` keeps the day it was first found."""

factor_scores = Table(
    "factor_scores", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("factor", String(64), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("score", Float, nullable=False),
    Column("metrics", Text, nullable=False),
)
"""A factor's 0-100 score per client and role (``any`` when every role sees the same
computable metrics) and the metric values it came from (JSON)."""

model_versions = Table(
    "model_versions", metadata,
    Column("version", String(64), primary_key=True),
    Column("segment", String(64), primary_key=True),
    Column("round", Integer, nullable=False),
    Column("created_on", Date, nullable=False),
    Column("weights", Text, nullable=False),
    Column("clients", Integer, nullable=False),
    Column("mae_before", Float),
    Column("mae_after", Float),
    Column("r2_before", Float),
    Column("r2_after", Float),
)
"""Each calibration round of the predicted satisfaction model per segment: the importance
weights (JSON role -> factor -> weight) and the error against reported CSI before and
after the round."""

predicted_index = Table(
    "predicted_index", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("model_version", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("predicted", Float),
    Column("reported", Float),
    Column("blocks", Text, nullable=False),
)
"""The predicted satisfaction index (0-100) per client and role, and per account (role
``account``: roles combined; status ``insufficient_signal`` when fewer than two roles
answered in the window), with the reported CSI where surveys gave one and the block
scores (JSON)."""

drilldown = Table(
    "drilldown", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("role", String(32), nullable=False),
    Column("satisfaction_drop", Float, nullable=False),
    Column("block", String(32), nullable=False),
    Column("factor", String(64), nullable=False),
    Column("metric", String(64)),
    Column("metric_value", Float),
    Column("metric_trend", Float),
    Column("process_class", String(32)),
    Column("owner", String(64)),
)
"""For a client whose satisfaction fell: the chain satisfaction (of the ``role`` whose index
fell most) -> block -> factor -> metric (value and trend) -> process class -> owner, the
largest contributions to the drop first."""

V5_TABLES = (feedback_classes, feedback_reviews, pareto_causes, findings, factor_scores,
             model_versions, predicted_index, drilldown)

# ---- issue 15: how the journey map's indicators are collected (migration 7) ----------------
collection_shares = Table(
    "collection_shares", metadata,
    Column("segment", String(64), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("indicators", Integer, nullable=False),
    Column("from_systems", Integer, nullable=False),
    Column("from_automated_channels", Integer, nullable=False),
    Column("in_person", Integer, nullable=False),
    Column("system_share", Float, nullable=False),
    Column("automated_share", Float, nullable=False),
)
"""Per segment (``all``: the catalogue's default methods) and day: how many of the
customer-journey map's indicators are collected from systems, through automated channels and
in person; ``system_share`` = from systems / indicators, ``automated_share`` = (from systems +
from automated channels) / indicators. One row per day: the history of the KPI."""

V7_TABLES = (collection_shares,)

# --- issue 15: polarity and the recurring flag of feedback classes (migration 8) -------------

FEEDBACK_CLASSES_V8_COLUMNS = ("polarity", "recurring")
"""Columns migration 8 adds to ``feedback_classes`` (a fresh warehouse has them at once)."""
feedback_classes.append_column(Column("polarity", String(16)))
"""``negative`` (a complaint), ``positive`` (praise) or ``neutral`` (a question, request or
plain information; both with status ``no_complaint``, no group, the process class spoken
of); null when nothing is known (no term)."""
feedback_classes.append_column(Column("recurring", Boolean))
"""The cause recurs for the client (the text says it happened before, or the client raised
it just before): chronic, the group kept; a regression goes to ``deterioration``."""
# --- monitor: past answers and KPI history (issue 17, migration 10) ---------------------------

past_answers = Table(
    "past_answers", metadata,
    Column("contact_id", String(64), primary_key=True),
    Column("question", String(64), primary_key=True),
    Column("answered_at", DateTime, primary_key=True),
    Column("survey_kind", String(16), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("score", Integer, nullable=False),
    Column("comment", Text),
    Column("source_file", String(64), nullable=False),
)
"""Survey answers from the tool used before CX Loop (``cx_tasks.monitor.past_answers``),
matched to a CRM contact and client; keyed by what the answer is (contact, question, moment,
survey kind), so a re-exported file updates rows instead of adding them. ``source_file``:
the first 16 hex of the SHA-256 of the file that last wrote the row."""

past_answer_files = Table(
    "past_answer_files", metadata,
    Column("file_hash", String(64), primary_key=True),
    Column("file_name", Text, nullable=False),
    Column("rows_in", Integer, nullable=False),
    Column("rows_loaded", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("imported_at", DateTime, nullable=False),
)
"""One row per imported file of past answers, by the SHA-256 of its bytes."""

kpi_runs = Table(
    "kpi_runs", metadata,
    Column("version", String(40), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("definition_hash", String(16), nullable=False),
    Column("inputs_fingerprint", String(16), nullable=False),
    Column("answers", Integer, nullable=False),
    Column("figures", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),
)
"""Every KPI recalculation: its version is ``<as_of>:<definition hash>:<inputs fingerprint>``
(the definitions and parameters, and the answers known by ``as_of``), so a backfill that
finds the same version reproduces the same figures and a changed figure names what changed.
``sequence`` numbers the runs in the order they were stored (the latest of a day wins)."""

kpi_figures = Table(
    "kpi_figures", metadata,
    Column("version", String(40), primary_key=True),
    Column("kpi", String(16), primary_key=True),
    Column("level", String(24), primary_key=True),
    Column("group_key", String(200), primary_key=True),
    Column("period", String(8), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("period_end", Date, nullable=False),
    Column("n", Integer, nullable=False),
    Column("clusters", Integer, nullable=False),
    Column("value", Float),
    Column("low", Float),
    Column("high", Float),
    Column("change", String(8)),
)
"""One KPI figure of a recalculation (``kpi_runs.version``): kpi (nps, csat, ces, ces_easy,
csi) per level (all, segment, account_manager, role, account, account_role) and group, per
period (month, quarter, t90) ``[period_start, period_end)``; ``n`` answers (responses for
CSI), ``clusters`` accounts; ``value``/``low``/``high`` null below the minimum n; ``change``
``up``/``down`` only when the difference from the previous period is significant at 95%."""

layer_cake = Table(
    "layer_cake", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("segment", String(64)),
    Column("account_manager", String(200)),
    *(Column(name, Float) for name in ("nps", "csat", "ces", "csi")),
    *(Column(f"{name}_n", Integer, nullable=False) for name in ("nps", "csat", "ces", "csi")),
    Column("orders", Integer, nullable=False),
    Column("revenue", Float),
    Column("gross_margin_pct", Float),
    Column("invoices_due", Integer, nullable=False),
    Column("payment_on_time", Float),
    Column("lines_due", Integer, nullable=False),
    Column("otif_line", Float),
)
"""The layer cake per client and month (``monitor.layers``): satisfaction (raw NPS, CSAT,
CES, CSI of the month and their n: no minimum here), the transactional layer (orders,
revenue, gross margin %, share of invoices due that were paid by their due date) and the
operational layer (OTIF of the lines due). The employee layer has no column until the
adjust stage brings staff data."""

money_link = Table(
    "money_link", metadata,
    Column("segment", String(64), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("clients", Integer, nullable=False),
    Column("slope", Float),
    Column("slope_se", Float),
    Column("standardised", Float),
    Column("r2", Float),
    Column("p_value", Float),
    Column("spearman_rho", Float),
)
"""Satisfaction (CSI) and gross margin % per segment and month across its clients
(``monitor.finance``): margin points per CSI point, the standardised coefficient, R^2,
p-value and Spearman's rho; null when fewer clients than the rule's minimum answered."""

outbox_images = Table(
    "outbox_images", metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("content_id", String(200), primary_key=True),
    Column("mime_type", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)
"""Images an outbox message shows inline (``cid:`` links in its HTML: the digests' charts),
written with the message by ``outbox.enqueue`` and sent as parts of a multipart/related
HTML alternative."""

MONITOR_TABLES = (past_answers, past_answer_files, kpi_runs, kpi_figures, layer_cake,
                  money_link, outbox_images)

# --- issue 18: the adjust stage (migration 11) -------------------------------------------

initiative_effects = Table(
    "initiative_effects", metadata,
    Column("initiative_id", String(200), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("estimate", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("n", Integer, nullable=False),
    Column("clusters", Integer, nullable=False),
    Column("affected", Integer, nullable=False),
    Column("controls", Integer, nullable=False),
)
"""An initiative's effect on a metric measured on ``as_of``: difference-in-differences
against matched unaffected clients, its interval, rows and accounts (clusters)."""

initiative_corrections = Table(
    "initiative_corrections", metadata,
    Column("initiative_id", String(200), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("days_running", Integer, nullable=False),
    Column("reason", Text, nullable=False),
)
"""An initiative flagged on ``as_of`` for correction: no measurable improvement of its
target metric after the configured time; its owner is asked to correct it."""

model_rounds = Table(
    "model_rounds", metadata,
    Column("segment", String(64), primary_key=True),
    Column("judged_from", Date, primary_key=True),
    Column("alignment", String(16), nullable=False),
    Column("current_version", String(96), nullable=False),
    Column("candidate_version", String(96), nullable=False),
    Column("answers_known", Integer, nullable=False),
    Column("answers_judged", Integer, nullable=False),
    Column("mae_current", Float),
    Column("mae_candidate", Float),
    Column("r2_current", Float),
    Column("r2_candidate", Float),
    Column("promoted", Boolean, nullable=False),
    Column("weights", Text, nullable=False),
    Column("note", Text, nullable=False),
)
"""A round of the model over real periods: a segment's candidate version fitted on the
answers before ``judged_from``, its error and the version in force's on the period from
``judged_from``, and whether it was promoted (weights JSON role -> factor -> weight)."""

ADJUST_TABLES = (initiative_effects, initiative_corrections, model_rounds)

at_risk = Table(
    "at_risk", metadata,
    Column("kind", String(16), primary_key=True),
    Column("subject_id", String(200), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("probability", Float, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("manager", String(200)),
    Column("clients", Integer),
    Column("revenue", Float),
    Column("revenue_at_risk", Float),
)
"""A level-5 prediction scored on ``as_of`` (``adjust.risk``): ``kind`` ``client`` (the account
``subject_id``'s satisfaction drop or fall in orders in the next 90 days; ``manager`` its
account manager), ``leaves`` or ``overloaded`` (the account manager ``subject_id`` next
quarter, with the portfolio depending on them: ``clients``, their ``revenue`` of the last 12
months, ``revenue_at_risk`` = probability x revenue); the calibrated probability and its top
reasons."""

RISK_TABLES = (at_risk,)
"""Migration 15: the at-risk lists (the register's initiative ids also widen to 200)."""

# --- issue 18: the staff layer (migration 16) -----------------------------------------------

staff_pulse_answers = Table(
    "staff_pulse_answers", metadata,
    Column("staff_id", String(64), primary_key=True),
    Column("quarter", Date, primary_key=True),
    Column("score", Integer, nullable=False),
    Column("answered_at", DateTime, nullable=False),
    Column("channel", String(16), nullable=False),
)
"""A staff member's answer to the quarterly pulse survey (1-5) of the quarter starting on
``quarter``, given through its one-click link (``link``) or imported (``import``)."""

STAFF_TABLES = (STAGING["hr_staff"], STAGING["hr_workload"], staff_pulse_answers)
"""Migration 16: the staff layer (its predictions are ``at_risk`` rows of kinds ``leaves`` and
``overloaded``)."""

# --- implement: cases, finding lifecycle, initiatives, progress e-mails (issue 16, migration 9) -

cases = Table(
    "cases", metadata,
    Column("case_id", String(260), primary_key=True),
    Column("feedback_id", String(240), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False),
    Column("contact_id", String(64)),
    Column("trigger", String(40), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("owner_person", String(200)),
    Column("owner_email", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", DateTime, nullable=False),
    Column("acknowledged_at", DateTime),
    Column("closed_at", DateTime),
    Column("note", Text),
)
"""A close-the-loop case per triggering feedback (``case:<feedback_id>``): its owner, status
(open, acknowledged, in_progress, closed, dismissed) and the times its clocks stopped;
``note`` is the resolution (closed) or the reason (dismissed). The clocks' deadlines are
not stored: they come from the rules of the run, so a changed rule applies to open cases."""

case_history = Table(
    "case_history", metadata,
    Column("case_id", String(260), primary_key=True),
    Column("changed_at", DateTime, primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("previous", String(16)),
    Column("actor", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("note", Text),
)
"""Every status change of a case: from ``previous`` to ``status``, by whom, through which
channel (pipeline, link, cli, file), when."""

case_escalations = Table(
    "case_escalations", metadata,
    Column("case_id", String(260), primary_key=True),
    Column("clock", String(16), primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("due_at", DateTime, nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("escalated_at", DateTime, nullable=False),
)
"""Each escalation step taken for a case's clock (``acknowledge`` or ``close``), once: the
moment it fell due and who was told (outbox ``case:<case_id>:<clock>:<step>``)."""

finding_states = Table(
    "finding_states", metadata,
    Column("finding_id", String(200), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("changed_at", DateTime, nullable=False),
    Column("reopened", Integer, nullable=False, default=0),
    Column("last_found_on", Date, nullable=False),
)
"""A finding's lifecycle (open, acknowledged, in_progress, resolved, dismissed with a
reason); ``reopened`` counts how often a resolved finding was found again."""

finding_history = Table(
    "finding_history", metadata,
    Column("finding_id", String(200), primary_key=True),
    Column("changed_at", DateTime, primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("previous", String(16)),
    Column("actor", String(200), nullable=False),
    Column("reason", Text),
)

initiatives = Table(
    "initiatives", metadata,
    Column("initiative_id", String(200), primary_key=True),
    Column("title", Text, nullable=False),
    Column("process_class", String(32), nullable=False),
    Column("segment", String(64), nullable=False),
    Column("owner", String(64)),
    Column("owner_person", String(200)),
    Column("sponsor", String(200)),
    Column("status", String(16), nullable=False),
    Column("proposed_on", Date, nullable=False),
    Column("decided_at", DateTime),
    Column("decided_by", String(200)),
    Column("reason", Text),
    Column("evidence", Text, nullable=False),
    Column("expected_effect", Text, nullable=False),
)
"""The register: an improvement initiative per process class and segment proposal
(``init:<segment>:<process class>:<proposed day>``), its owner and sponsor, status
(proposed, approved, in_progress, done, dropped, rejected) and the evidence (JSON:
complaints, affected revenue, clients, metrics) and expected effect (JSON)."""

initiative_links = Table(
    "initiative_links", metadata,
    Column("initiative_id", String(200), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("ref_id", String(240), primary_key=True),
    Column("client_id", String(64)),
)
"""What an initiative answers: findings (``finding``) and feedback (``feedback``), each with
its client; the affected clients are the distinct clients of its links."""

initiative_milestones = Table(
    "initiative_milestones", metadata,
    Column("initiative_id", String(200), primary_key=True),
    Column("milestone_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("title_en", Text, nullable=False),
    Column("title_ru", Text, nullable=False),
    Column("planned_on", Date),
    Column("reached_on", Date),
    Column("client_visible", Boolean, nullable=False),
)

initiative_history = Table(
    "initiative_history", metadata,
    Column("initiative_id", String(200), primary_key=True),
    Column("changed_at", DateTime, primary_key=True),
    Column("status", String(32), primary_key=True),
    Column("previous", String(32)),
    Column("actor", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("note", Text),
)
"""Every status change of an initiative and every milestone reached (status
``milestone:<id>``)."""

progress_notices = Table(
    "progress_notices", metadata,
    Column("contact_id", String(64), primary_key=True),
    Column("initiative_id", String(200), primary_key=True),
    Column("milestone_id", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(40)),
    Column("mail_key", String(200)),
    Column("decided_at", DateTime, nullable=False),
)
""""You said, we did": one decision per (contact, initiative, milestone): ``sent`` (in the
outbox under ``mail_key``, possibly with other milestones batched in one e-mail) or
``not_sent`` with its reason (opted_out, no_email); a milestone waiting for the contact's
14-day window has no row yet."""

V9_TABLES = (cases, case_history, case_escalations, finding_states, finding_history,
             initiatives, initiative_links, initiative_milestones, initiative_history,
             progress_notices)

# --- monitor: the computable metrics' trends per segment and period (issue 17, migration 14) ---

metric_trend_runs = Table(
    "metric_trend_runs", metadata,
    Column("version", String(60), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("definition_hash", String(16), nullable=False),
    Column("inputs_fingerprint", String(16), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),
)
"""Every recalculation of the metrics' trends (``monitor.trends``): version
``<as_of>:<definition hash>:<inputs fingerprint>`` as ``kpi_runs``; ``sequence`` orders the
runs as stored (the latest of a day wins)."""

metric_trends = Table(
    "metric_trends", metadata,
    Column("version", String(60), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("segment", String(64), primary_key=True),
    Column("period", String(8), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("period_end", Date, nullable=False),
    Column("value", Float),
    Column("n", Integer, nullable=False),
    Column("counted", String(16), nullable=False),
    Column("clients", Integer, nullable=False),
)
"""A computable metric per segment (``all``: every client) and calendar month or quarter
``[period_start, period_end)`` (the running one ends at the recalculation's day): the pooled
value, n and what n counts (lines, documents, invoices, shipments, orders or clients), and
the clients with a value."""

V14_TABLES = (metric_trend_runs, metric_trends)

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
)

# --- issue 14: promises kept at sending (migration 6) ----------------------------------------

OUTBOX_V6_COLUMNS = (
    Column("stale_after", DateTime),
    Column("links_expire_at", DateTime),
)
"""Outbox columns added by migration 6: when a message stops being worth sending (an
invitation's staleness limit) and when its earliest link expires; ``outbox.deliver``
suppresses it past the first (``stale_at_send``) or too near the second (``link_expiring``)."""
for _column in OUTBOX_V6_COLUMNS:
    outbox.append_column(_column)
