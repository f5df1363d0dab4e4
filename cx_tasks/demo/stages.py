"""The demo's funnel: every stage's ``funnel_lines``, in the order the loop runs.

A later stage (implement, monitor, adjust) adds its own ``funnel_lines(conn)`` in its package
and appends it to ``STAGES``; the demo prints every line and fails naming each stage that
fell short (``cx_tasks.demo.funnel``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine

from cx_tasks.adjust import funnel as adjust
from cx_tasks.analyze import funnel as analyze
from cx_tasks.collect import funnel as collect
from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.feedback import funnel as feedback
from cx_tasks.implement import stage as implement
from cx_tasks.monitor import funnel as monitor
from cx_tasks.surveys import funnel as surveys

StageLines = Callable[[Connection], list[FunnelLine]]

STAGES: tuple[StageLines, ...] = (collect.funnel_lines, surveys.funnel_lines,
                                  feedback.funnel_lines, analyze.funnel_lines,
                                  implement.funnel_lines, monitor.funnel_lines,
                                  adjust.funnel_lines)


def demo_funnel(engine: Engine, stages: tuple[StageLines, ...] = STAGES) -> list[FunnelLine]:
    """Every stage's funnel lines over the warehouse, in loop order (one read transaction)."""
    with engine.connect() as conn:
        return [line for stage in stages for line in stage(conn)]
