"""The ``cx`` commands against a small warehouse built here: stored text is printed as
written (never Rich markup), bad input ends in one line and exit code 2, tables fit 80
columns with ``-`` for missing values, and a missing warehouse is named in one line."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from typer.testing import CliRunner

from cx_tasks import cli
from cx_tasks.analyze import review_cli
from cx_tasks.cli_format import column_widths, shorten
from cx_tasks.warehouse.db import engine_for, migrate, upsert
from cx_tasks.warehouse.schema import (
    STAGING,
    drilldown,
    events,
    feedback,
    feedback_classes,
    findings,
    metric_values,
    predicted_index,
    quarantine,
)

DAY = date(2026, 11, 1)
AT = datetime(2026, 10, 30, 9, 15)
CLOSES = "Партия пришла битой [/] и без сертификата"  # an unmatched closing tag
LINK = "[link=https://evil.example]нажмите[/link]"      # must stay text, not a hyperlink
STYLE = "[bold red]СРОЧНО[/bold red]"
CLIENT = "ООО «Сталь [/]»"
EVIDENCE = ("margin (1 - 0.5) / (1 + 0.5) = 0.33; quality/order_fulfilment 1 <- damaged: "
            f"'{LINK}' 1; service/documents 0.5 <- late_document: a document was late 0.5")

runner = CliRunner()


@pytest.fixture()
def warehouse_env(tmp_path, monkeypatch):
    """A warehouse with one client whose name, feedback, evidence, findings and quarantine
    rows hold Rich markup; ``CX_DATA_DIR`` points at it."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = engine_for(url)
    migrate(engine)
    with engine.begin() as conn:
        upsert(conn, STAGING["erp_clients"], [dict(
            client_id="C00001", name=CLIENT, segment="metals [/]", size_class="A",
            contract_start=date(2024, 1, 1), updated_at=AT, interval_start=AT)])
        upsert(conn, feedback, [
            dict(feedback_id=f"claim:{n}", source="claim", channel="service_desk",
                 client_id="C00001", contact_id=None, role=None, text=text, scores=None,
                 ref_id=str(n), occurred_at=AT, recorded_at=AT)
            for n, text in [(1, CLOSES), (2, LINK), (3, STYLE)]])
        upsert(conn, feedback_classes, [
            dict(feedback_id="claim:1", client_id="C00001", status="review",
                 dissatisfaction_group=None, process_class=None, cause=None, confidence=0.4,
                 deterioration=None, evidence=EVIDENCE, classifier_version="v",
                 classified_on=DAY),
            dict(feedback_id="claim:2", client_id="C00001", status="review",
                 dissatisfaction_group=None, process_class=None, cause=None, confidence=0.3,
                 deterioration=None, evidence=f"no lexicon term [/] {STYLE}",
                 classifier_version="v", classified_on=DAY),
            dict(feedback_id="claim:3", client_id="C00001", status="classified",
                 dissatisfaction_group="quality", process_class="order_fulfilment",
                 cause="damaged", confidence=0.9, deterioration=None, evidence="x",
                 classifier_version="v", classified_on=DAY)])
        upsert(conn, findings, [dict(
            finding_id="f1", kind="complaint_cluster", client_id=None, segment="metals",
            process_class="order_fulfilment", factor=None, metric=None,
            summary=f"3 complaints {LINK} {CLOSES}", owner="warehouse",
            owner_person=f"Ivan {STYLE} <ivan@example.com>", found_on=DAY, due_on=DAY)])
        upsert(conn, predicted_index, [dict(
            client_id="C00001", role=role, as_of=DAY, model_version="m", status=status,
            predicted=predicted, reported=None, blocks="{}")
            for role, status, predicted in [("account", "insufficient_signal", None),
                                            ("operator", "ok", 61.5)]])
        upsert(conn, drilldown, [dict(
            client_id="C00001", as_of=DAY, rank=1, role="operator", satisfaction_drop=12.0,
            block="ease_of_doing_business", factor="decreased_hassles",
            metric="packaging_incident_rate", metric_value=0.1, metric_trend=0.05,
            process_class="order_fulfilment", owner="warehouse")])
        upsert(conn, metric_values, [dict(
            client_id="C00001", metric=metric, as_of=DAY, window_days=30, value=value,
            numerator=None, denominator=None, note=None)
            for metric, value in [("revenue", 1_036_346.249), ("otif_line", None)]])
        upsert(conn, quarantine, [dict(
            source_table="erp_orders", interval_start=AT, row_key="O1", rule=f"bad {LINK}",
            detail=CLOSES, payload="{}")])
        upsert(conn, events, [dict(
            event_id="e1", event_type="delivery_completed", client_id="C00001",
            contact_id=None, order_id="O1", ref_id="O1", occurred_at=AT, interval_start=AT,
            payload="{}")])
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CX_WAREHOUSE_URL", raising=False)
    return url


def run(*args: str, width: int = 200):
    """``cx ARGS`` with the consoles ``width`` columns wide."""
    for console in (cli.console, review_cli.console):
        console.width = width
    result = runner.invoke(cli.app, list(args), env={"COLUMNS": str(width)})
    return result


@pytest.mark.parametrize("args", [
    ("review", "list"),
    ("review", "show", "claim:1"),
    ("review", "show", "claim:2"),
    ("explain", "C00001"),
    ("findings",),
    ("findings", "--owner", "warehouse"),
    ("warehouse", "quarantine"),
    ("warehouse", "metrics"),
    ("warehouse", "events"),
    ("warehouse", "status"),
])
def test_stored_text_prints_as_written_never_as_markup(warehouse_env, args) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "\x1b]8;" not in result.output  # no OSC 8 hyperlink escape


def test_each_markup_text_appears_literally(warehouse_env) -> None:
    shown = run("review", "show", "claim:1").output
    assert CLOSES in shown and LINK in shown and CLIENT in shown
    assert "quality / order_fulfilment  1" in shown and "service / documents  0.5" in shown
    assert STYLE in run("review", "show", "claim:2").output
    listed = run("review", "list").output
    assert "[/]" in listed and "[link=https://evil.example]" in listed
    assert LINK in run("findings").output and STYLE in run("findings").output
    explained = run("explain", "C00001").output
    assert CLIENT in explained and STYLE in explained
    assert f"bad {LINK}" in run("warehouse", "quarantine").output
    assert "metals [/]" in run("warehouse", "metrics").output


def test_a_label_echoes_the_reviewer_as_text(warehouse_env) -> None:
    result = run("review", "label", "claim:1", "quality", "order_fulfilment",
                 "--reviewer", "[/]Ann")
    assert result.exit_code == 0, result.output
    assert "claim:1: quality / order_fulfilment by [/]Ann" in result.output


def test_a_person_says_an_item_is_no_complaint(warehouse_env) -> None:
    from sqlalchemy import select

    from cx_tasks.warehouse.schema import feedback_reviews

    assert "cx review no-complaint claim:1 positive|neutral" in run(
        "review", "show", "claim:1").output
    result = run("review", "no-complaint", "claim:1", "neutral", "--process-class",
                 "documents", "--reviewer", "[/]Ann")
    assert result.exit_code == 0, result.output
    assert "claim:1: no complaint (neutral, documents) by [/]Ann" in result.output
    assert run("review", "no-complaint", "claim:2", "positive", "--reviewer", "Bo").exit_code == 0
    with engine_for(warehouse_env).connect() as conn:
        stored = conn.execute(select(
            feedback_reviews.c.feedback_id, feedback_reviews.c.dissatisfaction_group,
            feedback_reviews.c.process_class, feedback_reviews.c.polarity,
            feedback_reviews.c.reviewer).order_by(feedback_reviews.c.feedback_id)).all()
    assert [tuple(r) for r in stored] == [("claim:1", None, "documents", "neutral", "[/]Ann"),
                                          ("claim:2", None, None, "positive", "Bo")]
    assert "0 items wait for review" in run("review", "list").output


@pytest.mark.parametrize(("args", "says"), [
    (("explain", "C99999"), "unknown client 'C99999': known are C00001"),
    (("explain", "C00001", "--as-of", "yesterday"),
     "--as-of 'yesterday' is not a date: give it as YYYY-MM-DD"),
    (("explain", "C00001", "--as-of", "2026-10-01"),
     "no analysis on 2026-10-01: analysed days are 2026-11-01 only"),
    (("findings", "--owner", "nobody"), "unknown owner 'nobody': known are"),
    (("warehouse", "metrics", "--window", "7"), "unknown window 7: known are 30"),
    (("review", "show", "claim:9"), "unknown review item 'claim:9': known are claim:1, claim:2"),
    (("review", "label", "claim:1", "nonsense", "pricing", "--reviewer", "a"),
     "group 'nonsense' is not one of"),
    (("review", "no-complaint", "claim:1", "negative", "--reviewer", "a"),
     "polarity 'negative' is not one of positive, neutral"),
    (("simulate", "--end", "yesterday"), "--end 'yesterday' is not a date"),
])
def test_bad_input_is_one_line_and_exit_code_2(warehouse_env, args, says) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.output.startswith(says)
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_missing_warehouse_is_named_in_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("CX_WAREHOUSE_URL", raising=False)
    for args in (("findings",), ("review", "list"), ("warehouse", "status")):
        result = run(*args)
        assert result.exit_code == 2
        assert result.output == (
            f"no warehouse (data folder {tmp_path / 'nowhere'}, warehouse sqlite:///"
            f"{tmp_path / 'nowhere' / 'warehouse.db'}): set CX_DATA_DIR or CX_WAREHOUSE_URL, "
            "or run `cx demo` to make one\n")
    assert not (tmp_path / "nowhere").exists()  # looking created nothing


def test_an_unreachable_server_is_named_without_its_password(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_WAREHOUSE_URL", "postgresql+psycopg2://cx:s3cret@127.0.0.1:1/cx")
    result = run("findings")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith(
        f"cannot open the warehouse (data folder {tmp_path}, warehouse "
        "postgresql+psycopg2://cx:***@127.0.0.1:1/cx): OperationalError")
    assert "s3cret" not in result.output


def test_migrate_names_a_bad_warehouse_url_in_one_line_and_creates_a_new_one(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_WAREHOUSE_URL", "not a url::")
    result = run("migrate")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith(f"the warehouse URL does not parse (data folder {tmp_path})")
    monkeypatch.delenv("CX_WAREHOUSE_URL")
    result = run("migrate")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "warehouse.db").exists() and "at schema version" in result.output


def test_without_cx_data_dir_the_projects_data_folder_is_used(monkeypatch, tmp_path) -> None:
    from pathlib import Path

    from cx_tasks.config import settings

    monkeypatch.chdir(tmp_path)
    project = Path(cli.__file__).resolve().parent.parent
    assert settings({}).data_dir == project / "data"
    assert settings({"CX_DATA_DIR": str(tmp_path)}).data_dir == tmp_path


@pytest.mark.parametrize("args", [
    ("review", "list"), ("review", "show", "claim:1"), ("explain", "C00001"), ("findings",),
    ("warehouse", "metrics"), ("warehouse", "quarantine"), ("warehouse", "events"),
])
def test_output_fits_80_columns_with_dashes_for_missing_values(warehouse_env, args) -> None:
    result = run(*args, width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "nan" not in result.output.lower()


def test_metrics_carry_units_and_the_aggregate(warehouse_env) -> None:
    out = run("warehouse", "metrics").output
    assert ("ratios pooled over the segment's clients, others the median per client"
            in " ".join(out.split()))  # the title wraps to the table's width
    # revenue: 1,036,346.249 RUB shown without kopecks; otif_line has no value: "-"
    assert "revenue" in out and "RUB" in out and "1,036,346" in out
    otif = next(line for line in out.splitlines() if "otif_line" in line)
    assert "share" in otif and otif.rstrip(" │┃").endswith("-")


def test_explain_prints_missing_satisfaction_as_a_dash(warehouse_env) -> None:
    out = run("explain", "C00001").output
    account = next(line for line in out.splitlines() if "insufficient_signal" in line)
    assert [cell.strip() for cell in account.split("│")[3:5]] == ["-", "-"]  # no prediction
    assert "nan" not in out


@pytest.mark.parametrize(("natural", "wraps", "width", "expected"), [
    # fits: 10 + 20 + 3*2 + 1 = 37 <= 40
    ([10, 20], [False, True], 40, None),
    # room 80 - (3*4 + 1) = 67; one-word 16 + 10 = 26 stay; the texts share 41: floors 16
    # each, 9 spare split by want (84 - 16 = 68, 40 - 16 = 24): 16 + 9*68//92 = 16 + 6 = 22,
    # 16 + 9*24//92 = 16 + 2 = 18
    ([16, 10, 84, 40], [False, False, True, True], 80, [16, 10, 22, 18]),
    # room 40 - 10 = 30; texts at their floor 16; one-word 20 + 20 get 14 / 40 each: 7, 7
    ([20, 20, 50], [False, False, True], 40, [7, 7, 16]),
])
def test_column_widths(natural, wraps, width, expected) -> None:
    assert column_widths(natural, wraps, width) == expected


def test_shorten_marks_a_cut_with_an_ellipsis() -> None:
    assert shorten("Партия   пришла\nбитой", 30) == "Партия пришла битой"
    assert shorten("abcdef ghij", 8) == "abcdef…"  # 7 kept, trailing space stripped


def test_an_empty_result_says_none_instead_of_an_empty_table(tmp_path, monkeypatch) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'warehouse.db'}")
    migrate(engine)
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CX_WAREHOUSE_URL", raising=False)
    assert run("warehouse", "quarantine").output == "quarantined rows by rule: none\n"
    assert run("review", "list").output == (
        "0 items wait for review (the whole of one: cx review show ID)\nreview queue: none\n")
