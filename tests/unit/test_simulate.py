"""The simulated supplier: contract shape, determinism, integrity, defects, planted signal."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cx_tasks.analyze.taxonomy import DISSATISFACTION_GROUPS, PROCESS_CLASSES
from cx_tasks.collect.contract import SOURCE_TABLES, source_table
from cx_tasks.simulate import SimulationSummary, simulate, writer
from cx_tasks.simulate.feedback import _tidy, _typo
from cx_tasks.simulate.names import feminine, translit
from cx_tasks.simulate.operations import NO_TIME, days_late, rounded
from cx_tasks.simulate.parameters import SimulationRules, simulation_rules
from cx_tasks.simulate.rows import Dates, Keys, SourceRows, Stamps
from cx_tasks.simulate.truth import _share_score
from cx_tasks.simulate.world import DAY, ActiveProblem, clock
from cx_tasks.simulate.writer import _balanced

END = date(2026, 11, 1)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SimulationSummary]:
    folder = tmp_path_factory.mktemp("small")
    summary = simulate(
        _sqlite_url(folder / "supplier.db"),
        folder / "truth.db",
        clients=20,
        days=30,
        seed=11,
        end=END,
    )
    return folder / "supplier.db", folder / "truth.db", summary


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SimulationSummary]:
    folder = tmp_path_factory.mktemp("default")
    summary = simulate(_sqlite_url(folder / "supplier.db"), folder / "truth.db", end=END)
    return folder / "supplier.db", folder / "truth.db", summary


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SimulationSummary]:
    folder = tmp_path_factory.mktemp("defective")
    rules = simulation_rules().model_copy(update={"defect_share": 0.05})
    summary = simulate(
        _sqlite_url(folder / "supplier.db"),
        folder / "truth.db",
        clients=20,
        days=30,
        seed=3,
        end=END,
        rules=rules,
    )
    return folder / "supplier.db", folder / "truth.db", summary


def _read(path: Path, sql: str, params: tuple = ()) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        return pd.read_sql(sql, conn, params=params)


def _table_digests(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            name: hashlib.sha256(
                repr(conn.execute(f'SELECT * FROM "{name}" ORDER BY 1, 2').fetchall()).encode()
            ).hexdigest()
            for name in sorted(names)
        }


# --- small pure pieces, hand-computed -------------------------------------------------------


def test_quantities_round_to_their_unit() -> None:
    # units t, kg, m, pcs have steps 0.001, 1, 0.1, 1: 1.23456 t -> 1.235, 12.6 kg -> 13,
    # 7.25 m -> 7.2 (half to even on 72.5 steps), 3.4 pcs -> 3
    got = rounded(np.array([1.23456, 12.6, 7.25, 3.4]), np.array([0, 1, 2, 3]))
    assert got.tolist() == [1.235, 13.0, 7.2, 3.0]


def test_days_late_counts_whole_days_after_the_promised_day() -> None:
    lines = pd.DataFrame({"promised_day": [10, 12]})
    shipments = pd.DataFrame(
        {
            "line": [0, 1, 1],
            # day 11 10:00 -> 11 - 10 = 1 day late; day 12 09:00 -> 0 (on the day);
            # not delivered -> 0
            "delivered_at": [11 * DAY + 36_000, 12 * DAY + 32_400, NO_TIME],
        }
    )
    assert days_late(lines, shipments).tolist() == [1, 0, 0]


def test_share_score_maps_floor_to_zero_and_one_to_hundred() -> None:
    # floor 0.6: share 0.8 -> (0.8 - 0.6) / 0.4 = 0.5 -> 50; 0.5 -> below floor -> 0; 1 -> 100
    assert _share_score(np.array([0.8, 0.5, 1.0]), 0.6).tolist() == pytest.approx([50, 0, 100])


def test_worsening_problem_rate_ramps_from_its_start() -> None:
    rules = simulation_rules()
    spec = next(p for p in rules.problems if p.name == "gamma_east_route_worsening")
    problem = ActiveProblem(spec, target=2, region=2, start=10 * DAY)
    # slope 0.14 per 30 days from rate 0: day 5 -> 0 (not started), day 10 -> 0,
    # day 55 -> 0.14 * 45 / 30 = 0.21
    got = problem.rate(np.array([5 * DAY, 10 * DAY, 55 * DAY]))
    assert got.tolist() == pytest.approx([0.0, 0.0, 0.21])
    # only clients of region 2 are hit
    assert problem.hits(np.array([0, 2, 1])).tolist() == [False, True, False]


def test_timestamps_dates_and_keys_are_encoded_as_iso_strings() -> None:
    epoch = date(2026, 1, 1)
    # 90061 s = 1 day + 1 h + 1 min + 1 s after 2026-01-01 00:00; -86400 s = the day before
    stamps = Stamps(np.array([90061, -DAY, NO_TIME]), epoch)
    assert stamps.values(0, 3) == ["2026-01-02 01:01:01", "2025-12-31 00:00:00", None]
    assert Dates(np.array([0, 59]), epoch).values(0, 2) == ["2026-01-01", "2026-03-01"]
    # keys number rows from 1; a negative index is a missing reference
    assert Keys("O%08d", np.array([0, 41, -1])).values(0, 3) == ["O00000001", "O00000042", None]


def test_source_rows_apply_overrides_and_check_contract_columns() -> None:
    columns = {c: Keys("C%05d", np.arange(3)) for c in source_table("crm_accounts").column_names}
    rows = SourceRows("crm_accounts", 3, columns, overrides={1: {"client_id": "C99999"}})
    chunks = list(rows.chunks(2))
    assert [len(c) for c in chunks] == [2, 1]
    assert chunks[0][1][0] == "C99999" and chunks[1][0][0] == "C00003"
    with pytest.raises(ValueError, match="contract"):
        SourceRows("crm_accounts", 3, {"client_id": Keys("C%05d", np.arange(3))})


def test_balanced_split_evens_out_the_writing_work() -> None:
    def rows(name: str, n: int) -> SourceRows:
        cols = {c: Keys("X%d", np.arange(n)) for c in source_table(name).column_names}
        return SourceRows(name, n, cols)

    # work = rows x (columns + 2): lines 100 x 12 = 1200, shipments 100 x 11 = 1100,
    # orders 100 x 6 = 600, accounts 100 x 5 = 500; greedy, largest first:
    # lines -> A (1200), shipments -> B (1100), orders -> B (1700), accounts -> A (1700)
    tables = [
        rows("erp_orders", 100),
        rows("erp_order_lines", 100),
        rows("wms_shipments", 100),
        rows("crm_accounts", 100),
    ]
    first, second = _balanced(tables)
    assert {t.name for t in first} == {"erp_order_lines", "crm_accounts"}
    assert {t.name for t in second} == {"wms_shipments", "erp_orders"}


def test_names_transliterate_and_take_feminine_forms() -> None:
    assert translit("Щукин") == "shchukin"
    assert translit("Соловьёв") == "solovev"
    assert feminine("Иванов") == "Иванова" and feminine("Лебедь") == "Лебедь"


def test_typo_changes_exactly_one_long_word() -> None:
    # where=0 picks the first long word "Order"; how=0.1 swaps letters at k = 1 + int(0.1*2) = 1
    assert _typo("Order 42 arrived late", 0.0, 0.1) == "Odrer 42 arrived late"


def test_texts_keep_line_breaks_but_lose_stray_spaces() -> None:
    # an empty slot leaves "заказу  ." and an opening ends in a line break
    assert _tidy("Добрый день!\n Где  заказ ?  ") == "Добрый день!\nГде заказ ?"


def test_rules_reject_an_unknown_problem_target() -> None:
    data = simulation_rules().model_dump()
    data["problems"][0]["target"] = "WH-Nowhere"
    with pytest.raises(ValidationError, match="unknown target"):
        SimulationRules.model_validate(data)


def test_clock_ends_before_end_date() -> None:
    period = clock(END, 30)
    assert (period.start, period.days, period.now) == (date(2026, 10, 2), 30, 30 * DAY)


# --- a whole small simulation ---------------------------------------------------------------


def test_every_contract_table_and_column_is_written(small: tuple) -> None:
    source, _, summary = small
    with sqlite3.connect(source) as conn:
        for table in SOURCE_TABLES:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table.name})")]
            assert columns == table.column_names, table.name
    assert set(summary.rows) == {t.name for t in SOURCE_TABLES}
    for name in (
        "erp_clients",
        "erp_orders",
        "erp_order_lines",
        "wms_shipments",
        "doc_documents",
        "bill_invoices",
        "crm_contacts",
        "sd_claims",
    ):
        assert summary.rows[name] > 0, name
    assert summary.clients == 20 and summary.start == date(2026, 10, 2) and summary.end == END


def test_same_seed_gives_identical_tables_and_another_seed_does_not(
    small: tuple, tmp_path: Path
) -> None:
    source, truth, _ = small
    simulate(
        _sqlite_url(tmp_path / "again.db"),
        tmp_path / "again_truth.db",
        clients=20,
        days=30,
        seed=11,
        end=END,
    )
    assert _table_digests(tmp_path / "again.db") == _table_digests(source)
    assert _table_digests(tmp_path / "again_truth.db") == _table_digests(truth)
    simulate(
        _sqlite_url(tmp_path / "other.db"),
        tmp_path / "other_truth.db",
        clients=20,
        days=30,
        seed=12,
        end=END,
    )
    assert (
        _table_digests(tmp_path / "other.db")["erp_order_lines"]
        != _table_digests(source)["erp_order_lines"]
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the forked writer is Linux-only")
def test_forked_writer_writes_the_same_tables(
    small: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _, _ = small
    monkeypatch.setattr(writer, "PARALLEL_ROWS", 0)  # even a small simulation writes in two
    seen: list[tuple[str, int, int]] = []
    summary = simulate(
        _sqlite_url(tmp_path / "forked.db"),
        tmp_path / "t.db",
        clients=20,
        days=30,
        seed=11,
        end=END,
        progress=lambda *p: seen.append(p),
    )
    assert _table_digests(tmp_path / "forked.db") == _table_digests(source)
    assert seen[-1] == ("generate", 9, 9)
    assert max(d for s, d, _ in seen if s == "write") == sum(summary.rows.values())
    assert not (tmp_path / "forked.db.simulating-part").exists()


def test_rerun_replaces_the_database(small: tuple, tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "s.db")
    simulate(url, tmp_path / "t.db", clients=5, days=10, seed=1, end=END)
    second = simulate(url, tmp_path / "t.db", clients=3, days=10, seed=1, end=END)
    assert _read(tmp_path / "s.db", "SELECT COUNT(*) AS n FROM erp_clients")["n"][0] == 3
    assert second.rows["erp_clients"] == 3


def test_values_have_contract_formats_and_nothing_happens_after_end(small: tuple) -> None:
    source, _, _ = small
    now = f"{END.isoformat()} 00:00:00"
    with sqlite3.connect(source) as conn:
        for table in SOURCE_TABLES:
            for col in table.columns:
                values = [r[0] for r in conn.execute(f"SELECT {col.name} FROM {table.name}")]
                present = [v for v in values if v is not None]
                if col.required:
                    assert len(present) == len(values), f"{table.name}.{col.name} has NULLs"
                if col.type == "timestamp":
                    assert all(TIMESTAMP.match(v) for v in present), f"{table.name}.{col.name}"
                    assert all(v < now for v in present), f"{table.name}.{col.name} after end"
                elif col.type == "date":
                    assert all(DATE.match(v) for v in present), f"{table.name}.{col.name}"
                elif col.type == "boolean":
                    assert set(present) <= {0, 1}, f"{table.name}.{col.name}"
                if col.allowed:
                    assert set(present) <= set(col.allowed), f"{table.name}.{col.name}"
        # event dates lie before the end too (promised and due dates are plans, may be later)
        for table, col in (
            ("erp_orders", "order_date"),
            ("bill_invoices", "issued_date"),
            ("bill_payments", "paid_date"),
            ("erp_clients", "contract_start"),
        ):
            latest = conn.execute(f"SELECT MAX({col}) FROM {table}").fetchone()[0]
            assert latest is None or latest < END.isoformat(), f"{table}.{col}"


def test_updated_at_is_the_latest_change(small: tuple) -> None:
    source, _, _ = small
    shipments = _read(source, "SELECT * FROM wms_shipments")
    expected = shipments["delivered_at"].fillna(shipments["shipped_at"])
    assert (shipments["updated_at"] == expected).all()
    claims = _read(source, "SELECT * FROM sd_claims")
    assert (claims["updated_at"] == claims["closed_at"].fillna(claims["opened_at"])).all()
    docs = _read(source, "SELECT * FROM doc_documents")
    assert (docs["updated_at"] == docs["sent_at"].fillna(docs["requested_at"])).all()
    assert (docs["sent_at"].dropna() >= docs.loc[docs["sent_at"].notna(), "requested_at"]).all()


def test_references_of_sound_rows_resolve(small: tuple) -> None:
    source, truth, _ = small
    defects = _read(truth, "SELECT * FROM defects")
    with sqlite3.connect(source) as conn:
        for table in SOURCE_TABLES:
            bad = set(defects.loc[defects["source_table"] == table.name, "ref_id"])
            for ref in table.references:
                target = source_table(ref.table)
                known = {r[0] for r in conn.execute(f"SELECT {target.key} FROM {target.name}")}
                rows = conn.execute(
                    f"SELECT {table.key}, {ref.column} FROM {table.name}"
                ).fetchall()
                dangling = [k for k, v in rows if v is not None and v not in known and k not in bad]
                assert not dangling, f"{table.name}.{ref.column}: {dangling[:3]}"


def test_contacts_roles_languages_and_emails(default: tuple) -> None:
    source, _, _ = default
    contacts = _read(source, "SELECT * FROM crm_contacts")
    assert contacts["email"].is_unique
    assert contacts["email"].str.fullmatch(r"[a-z0-9._-]+@[a-z0-9-]+\.example\.(ru|com)").all()
    per_client = contacts.groupby("client_id").size()
    assert per_client.between(1, 3).all() and len(per_client) == 300
    # 3 roles x 300 clients = 900 possible contacts, ~10% missing -> roughly 780-860
    assert 760 <= len(contacts) <= 870
    assert 0.02 <= contacts["opted_out"].mean() <= 0.07
    assert set(contacts["language"]) == {"ru", "en"}
    assert (contacts["language"] == "ru").mean() > 0.7
    ru = contacts.loc[contacts["language"] == "ru", "full_name"]
    assert ru.str.fullmatch(r"[А-ЯЁа-яё]+ [А-ЯЁа-яё]+ [А-ЯЁа-яё]+").all()


def test_claims_and_tickets_are_written_in_both_languages_in_all_groups(default: tuple) -> None:
    source, truth, _ = default
    texts = pd.concat(
        [_read(source, "SELECT text FROM sd_claims"), _read(source, "SELECT text FROM sd_tickets")]
    )["text"]
    cyrillic = texts.str.contains(r"[А-Яа-я]")
    assert cyrillic.mean() > 0.6 and (~cyrillic).sum() > 20
    assert texts.nunique() > 0.8 * len(texts)
    labels = _read(
        truth, 'SELECT "group", process_class, source_table, ref_id FROM feedback_labels'
    )
    assert set(labels["group"]) == set(DISSATISFACTION_GROUPS)
    assert set(labels["process_class"]) <= set(PROCESS_CLASSES)
    claims = _read(source, "SELECT claim_id FROM sd_claims")["claim_id"]
    tickets = _read(source, "SELECT ticket_id FROM sd_tickets")["ticket_id"]
    assert set(labels["ref_id"]) == set(claims) | set(tickets)


def test_otif_and_problem_warehouse_look_realistic(default: tuple) -> None:
    source, truth, _ = default
    ct = _read(truth, "SELECT otif, home_warehouse, lines FROM client_truth WHERE lines > 0")
    overall = np.average(ct["otif"], weights=ct["lines"])
    assert 0.80 <= overall <= 0.92
    by_home = ct.groupby("home_warehouse").apply(
        lambda d: np.average(d["otif"], weights=d["lines"])
    )
    assert by_home["WH-South"] < min(by_home["WH-North"], by_home["WH-East"])


def test_satisfaction_drives_margin_with_coefficient_near_0_7(default: tuple) -> None:
    source, truth, _ = default
    defects = set(_read(truth, "SELECT ref_id FROM defects")["ref_id"])
    lines = _read(
        source,
        """
        SELECT l.order_line_id, o.order_id, o.client_id, l.quantity, l.price, l.cost
        FROM erp_order_lines l JOIN erp_orders o USING (order_id)
        WHERE l.cancelled = 0""",
    )
    lines = lines[~lines["order_line_id"].isin(defects) & ~lines["order_id"].isin(defects)]
    lines = lines.astype({"quantity": float, "price": float, "cost": float})
    lines = lines[lines["quantity"] > 0]
    revenue = (lines["price"] * lines["quantity"]).groupby(lines["client_id"]).sum()
    cost = (lines["cost"] * lines["quantity"]).groupby(lines["client_id"]).sum()
    margin = (revenue - cost) / revenue
    sat = _read(truth, "SELECT client_id, satisfaction FROM client_truth").set_index("client_id")
    both = pd.concat([margin.rename("margin"), sat["satisfaction"]], axis=1, join="inner")
    z = (both - both.mean()) / both.std()
    slope = np.polyfit(z["satisfaction"], z["margin"], 1)[0]
    assert slope == pytest.approx(0.7, abs=0.1)


def test_worsening_carrier_is_late_more_often_at_the_end(default: tuple) -> None:
    source, truth, _ = default
    affected = _read(
        truth,
        "SELECT client_id FROM problem_clients WHERE problem = ?",
        ("gamma_east_route_worsening",),
    )["client_id"]
    shipments = _read(
        source,
        """
        SELECT o.client_id, s.shipped_at, s.delivered_at, l.promised_date
        FROM wms_shipments s JOIN erp_order_lines l USING (order_line_id)
        JOIN erp_orders o USING (order_id)
        WHERE s.carrier = 'TK-Gamma' AND s.delivered_at IS NOT NULL""",
    )
    mine = shipments[shipments["client_id"].isin(affected)]
    late = mine["delivered_at"].str[:10] > mine["promised_date"]
    first = late[mine["shipped_at"] < "2026-06-04"]  # the first 30 days from 2026-05-05
    last = late[mine["shipped_at"] >= "2026-10-02"]  # the last 30 days before 2026-11-01
    assert len(first) > 100 and len(last) > 100
    assert last.mean() > first.mean() + 0.08


def test_worsening_problems_are_recorded_with_start_and_slope(default: tuple) -> None:
    _, truth, _ = default
    problems = _read(truth, "SELECT * FROM process_problems").set_index("problem")
    worsening = problems[problems["slope_per_30_days"] > 0]
    assert len(worsening) >= 2
    # 60 days before 2026-11-01 is 2026-09-02
    assert problems.loc["gamma_east_route_worsening", "start_date"] == "2026-09-02"
    deteriorating = _read(
        truth, "SELECT COUNT(*) AS n FROM feedback_labels WHERE \"group\" = 'deterioration'"
    )["n"][0]
    assert deteriorating > 10


def test_ground_truth_holds_importances_per_segment_and_role(default: tuple) -> None:
    _, truth, _ = default
    weights = _read(truth, "SELECT * FROM factor_importance")
    # 3 segments x 3 roles x 10 factors
    assert len(weights) == 90
    pivot = weights.pivot_table(index="factor", columns="segment", values="importance")
    assert pivot.loc["documents", "chemicals"] > pivot.loc["documents", "distribution"]
    roles = _read(truth, "SELECT * FROM role_truth")
    assert len(roles) == 900 and roles["satisfaction"].between(0, 100).all()


def test_defects_recorded_match_the_malformed_rows(defective: tuple) -> None:
    source, truth, summary = defective
    defects = _read(truth, "SELECT * FROM defects")
    assert defects.groupby("defect").size().to_dict() == summary.defects
    assert set(summary.defects) == {
        "unknown_client",
        "negative_quantity",
        "impossible_date",
        "text_in_numeric",
        "over_delivery",
    }
    found: set[tuple[str, str, str]] = set()
    with sqlite3.connect(source) as conn:
        clients = {r[0] for r in conn.execute("SELECT client_id FROM erp_clients")}
        for order_id, client_id in conn.execute("SELECT order_id, client_id FROM erp_orders"):
            if client_id not in clients:
                found.add(("erp_orders", order_id, "unknown_client"))
        for key, qty, promised, price in conn.execute(
            "SELECT order_line_id, quantity, promised_date, price FROM erp_order_lines"
        ):
            if isinstance(qty, float) and qty < 0:
                found.add(("erp_order_lines", key, "negative_quantity"))
            if promised[:4] in ("1970", "2199"):
                found.add(("erp_order_lines", key, "impossible_date"))
            if isinstance(price, str):
                found.add(("erp_order_lines", key, "text_in_numeric"))
        for key, shipped, delivered, ordered in conn.execute("""
                SELECT s.shipment_id, s.shipped_qty, s.delivered_qty, l.quantity
                FROM wms_shipments s JOIN erp_order_lines l USING (order_line_id)"""):
            if isinstance(shipped, str):
                found.add(("wms_shipments", key, "text_in_numeric"))
            elif (
                delivered is not None
                and isinstance(ordered, float)
                and delivered > 1.1 * abs(ordered)
            ):
                found.add(("wms_shipments", key, "over_delivery"))
    assert found == set(defects.itertuples(index=False, name=None))


def test_no_defects_when_disabled(tmp_path: Path) -> None:
    rules = simulation_rules().model_copy(update={"defect_share": 0.0})
    summary = simulate(
        _sqlite_url(tmp_path / "s.db"), tmp_path / "t.db", clients=10, days=20, end=END, rules=rules
    )
    assert summary.defects == {}
    assert _read(tmp_path / "t.db", "SELECT COUNT(*) AS n FROM defects")["n"][0] == 0


def test_progress_reports_generation_and_writing(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    summary = simulate(
        _sqlite_url(tmp_path / "s.db"),
        tmp_path / "t.db",
        clients=5,
        days=10,
        end=END,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    generate = [s for s in seen if s[0] == "generate"]
    write = [s for s in seen if s[0] == "write"]
    assert generate[-1][1] == generate[-1][2] and len(generate) == generate[-1][2]
    assert write[-1][1] == write[-1][2] == sum(summary.rows.values())


@pytest.mark.postgres
def test_postgres_receives_the_same_rows(small: tuple, tmp_path: Path, postgres_url: str) -> None:
    from sqlalchemy import create_engine, text

    summary = simulate(postgres_url, tmp_path / "truth.db", clients=20, days=30, seed=11, end=END)
    _, _, sqlite_summary = small
    assert summary.rows == sqlite_summary.rows
    # PostgreSQL cannot hold 'n/a' in a number column, so that defect kind is left out there
    assert "text_in_numeric" not in summary.defects
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            counts = {
                t.name: conn.execute(text(f"SELECT COUNT(*) FROM {t.name}")).scalar_one()
                for t in SOURCE_TABLES
            }
            flags = set(
                conn.execute(text("SELECT DISTINCT cancelled FROM erp_order_lines")).scalars()
            )
    finally:
        engine.dispose()
    assert counts == summary.rows
    assert flags <= {True, False}
