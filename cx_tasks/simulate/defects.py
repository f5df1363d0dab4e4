"""Deliberately malformed rows the quality gate must catch, and their record in ground truth.

Each defect fits the DDL (keys stay unique and present) but breaks the contract: an order
of an unknown client, a negative quantity, a delivery above 110% of the ordered quantity,
a promised date in 1970 or 2199, 'n/a' in a numeric column (only where the database
accepts text there, i.e. SQLite). Shipment defects are put on the only shipment of a line,
so a check of a line's delivered total flags just the malformed row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cx_tasks.simulate import keys
from cx_tasks.simulate.operations import NO_TIME, Operations
from cx_tasks.simulate.rows import SourceRows

IMPOSSIBLE_DATES = ("1970-01-01", "2199-12-31")


def _sample(rng: np.random.Generator, pool: np.ndarray, share: float) -> np.ndarray:
    count = min(len(pool), int(round(share * len(pool))))
    return np.sort(rng.choice(pool, count, replace=False)) if count else np.array([], np.int64)


def inject_defects(
    tables: list[SourceRows],
    ops: Operations,
    n_clients: int,
    share: float,
    text_in_numbers: bool,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Override cells of ``share`` of orders, order lines and shipments in ``tables`` (in place);
    return the record ``(source_table, ref_id, defect)`` of every malformed row."""
    by_name = {t.name: t for t in tables}
    records: list[tuple[str, str, str]] = []

    def mark(table: str, row: int, ref: str, defect: str, cells: dict[str, Any]) -> None:
        by_name[table].overrides[row] = cells
        records.append((table, ref, defect))

    orders = _sample(rng, np.arange(len(ops.orders)), share)
    for k, row in enumerate(orders.tolist()):
        mark(
            "erp_orders",
            row,
            keys.ORDER % (row + 1),
            "unknown_client",
            {"client_id": keys.CLIENT % (n_clients + 1000 + k)},
        )

    lines = ops.lines
    line_kinds = ["negative_quantity", "impossible_date"] + (["text_in_numeric"] * text_in_numbers)
    chosen = _sample(rng, np.arange(len(lines)), share)
    kinds = rng.integers(0, len(line_kinds), len(chosen))
    for row, kind in zip(chosen.tolist(), kinds.tolist(), strict=True):
        ref = keys.ORDER_LINE % (lines["order"].iat[row] + 1, lines["line_no"].iat[row])
        defect = line_kinds[kind]
        cells: dict[str, Any] = {
            "negative_quantity": {"quantity": -max(float(lines["quantity"].iat[row]), 1.0)},
            "impossible_date": {"promised_date": IMPOSSIBLE_DATES[row % 2]},
            "text_in_numeric": {"price": "n/a"},
        }[defect]
        mark("erp_order_lines", row, ref, defect, cells)

    s = ops.shipments
    ship_kinds = ["over_delivery"] + (["text_in_numeric"] * text_in_numbers)
    line = s["line"].to_numpy()
    alone = np.bincount(line, minlength=len(lines))[line] == 1
    delivered = np.flatnonzero((s["delivered_at"].to_numpy() != NO_TIME) & alone)
    chosen = _sample(rng, delivered, share * len(s) / max(len(delivered), 1))
    kinds = rng.integers(0, len(ship_kinds), len(chosen))
    ordered = lines["quantity"].to_numpy()[s["line"].to_numpy()]
    for row, kind in zip(chosen.tolist(), kinds.tolist(), strict=True):
        defect = ship_kinds[kind]
        cells = (
            {"delivered_qty": round(float(ordered[row]) * rng.uniform(1.2, 2.0), 3)}
            if defect == "over_delivery"
            else {"shipped_qty": "n/a"}
        )
        mark("wms_shipments", row, keys.SHIPMENT % (row + 1), defect, cells)
    return pd.DataFrame(records, columns=["source_table", "ref_id", "defect"])
