"""How a KPI figure reads wherever it is shown (terminal, digest, CX view): the value, its
interval and a marked change, or "n < 10" below the minimum n. One place, so a figure never
reads differently in two places."""

from __future__ import annotations

import math
from typing import Any

DECIMALS = {"nps": 0, "csat": 0, "ces": 2, "ces_easy": 0, "csi": 1}
UNITS = {"nps": "", "csat": "%", "ces": "", "ces_easy": "%", "csi": ""}
ARROWS = {"up": "▲", "down": "▼"}
LABELS = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "ces_easy": "CES 5-7", "csi": "CSI"}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def figure_text(kpi: str, value: Any, low: Any, high: Any, n: int, min_n: int,
                change: Any = None) -> str:
    """``"30 [-6, 58] ▲"`` (value, 95% interval, a significant change), or ``"n < 10"``."""
    if n < min_n or _missing(value):
        return f"n < {min_n}"
    places, unit = DECIMALS.get(kpi, 1), UNITS.get(kpi, "")
    text = f"{value:.{places}f}{unit} [{low:.{places}f}, {high:.{places}f}]"
    arrow = ARROWS.get(change) if not _missing(change) else None
    return f"{text} {arrow}" if arrow else text
