"""The methodology's fixed vocabulary of dissatisfaction: its four groups and the
processes (touchpoints from evaluation on) a complaint or a metric belongs to."""

from __future__ import annotations

DISSATISFACTION_GROUPS = ("delivery_discipline", "quality", "service", "deterioration")
"""The four groups of dissatisfaction; a regression (a problem that was fine before and is
now getting worse) goes to ``deterioration`` rather than the first three."""

PROCESS_CLASSES = (
    "pricing",
    "delivery_planning",
    "specification",
    "order_fulfilment",
    "documents",
    "claims_handling",
    "payments",
)
"""The supplier's client-facing processes, in the order of the customer journey."""

NO_COMPLAINT_POLARITIES = ("positive", "neutral")
"""What a text says when it is no complaint: praise, or a question, request or plain
information."""
