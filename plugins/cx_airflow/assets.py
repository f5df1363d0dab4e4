"""The Assets through which CX Loop's stages trigger one another."""

from __future__ import annotations

from airflow.sdk import Asset

CX_EVENTS = Asset(name="cx_events", uri="cx://collect/events")
"""Trigger events detected (delivery completed, OTIF miss, claim closed, ticket resolved,
document delay); updated by ``cx_collect_nightly``'s ``detect_events``. The event's
``extra`` holds the detection window (``interval_start``, ``interval_end``), the events
``detected`` and how many were ``new`` (stored with ``interval_start`` = the window's start),
and ``gate_passed``."""

CX_METRICS = Asset(name="cx_metrics", uri="cx://collect/metrics")
"""Computable metrics published for a day (``extra``: ``as_of``); updated by
``cx_collect_nightly``'s ``compute_metrics`` when the data-quality gate passed."""

CX_EXTERNAL_EVENTS = Asset(name="cx_external_events", uri="cx://collect/external-events")
"""Trigger events pushed in real time by the supplier's systems through Airflow's REST API
(``POST /api/v2/assets/events``); the event itself is the asset event's ``extra``:
``event_type``, ``client_id``, ``ref_id``, ``occurred_at`` and, where known, ``contact_id``
and ``order_id``."""

CX_FEEDBACK = Asset(name="cx_feedback", uri="cx://collect/feedback")
"""New feedback stored (a survey response, a claim or ticket, an informal note); ``extra``
names the ``feedback_ids``. The acknowledgement and the analyze stage are scheduled on it."""

CX_FEEDBACK_INTAKE = Asset(name="cx_feedback_intake", uri="cx://collect/feedback-intake")
"""Feedback taken in by ``cx_feedback`` (claims, tickets, informal notes); ``extra`` names
the ``feedback_ids``. Separate from ``cx_feedback`` because ``cx_feedback`` is scheduled
on that Asset and must not trigger itself: a stage that wants every new piece of feedback
schedules on ``CX_FEEDBACK | CX_FEEDBACK_INTAKE``."""

CX_ANALYSIS = Asset(name="cx_analysis", uri="cx://analyze/findings")
"""The analysis of a day refreshed by ``cx_analyze``: feedback classified, Pareto causes,
the predicted satisfaction index, drill-downs and findings with owners (``extra``:
``as_of`` and the findings per kind). The implement and monitor stages schedule on it."""

CX_KPIS = Asset(name="cx_kpis", uri="cx://monitor/kpis")
"""KPIs recalculated for a day by ``cx_monitor`` (``extra``: ``as_of``, the ``version``,
figures and findings); the digests read the latest version."""

CX_IMPLEMENTATION = Asset(name="cx_implementation", uri="cx://implement/initiatives")
"""The implement stage ran: cases opened and escalated, initiatives proposed and decided,
"you said, we did" e-mails decided, the report written; updated by ``cx_implement``'s
``write_report`` (``extra``: the run's ``now`` and its counts)."""
