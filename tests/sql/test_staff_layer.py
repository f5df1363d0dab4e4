"""The staff layer through the data contract: the simulator's HR tables extracted,
validated and staged like any source table, the pulse answers stored, and the managers'
monthly panel read back from the warehouse equal to what the simulator planted (its
observable columns); the quarterly pulse e-mail once per person and quarter, opt-out kept."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from fixtures.feedback_world import stage
from sqlalchemy import select

from cx_tasks.adjust.pulse import quarter_of, record_pulse_answers, send_pulse
from cx_tasks.adjust.staff import month_number, staff_panel
from cx_tasks.collect.quality import collect_interval
from cx_tasks.simulate.staff import pulse_answers, staff_history, staff_source_rows
from cx_tasks.simulate.writer import write_source
from cx_tasks.surveys.tokens import verify
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import outbox, quarantine

END = date(2026, 11, 1)


def test_the_managers_panel_from_the_warehouse_is_the_simulated_one(warehouse_url, tmp_path):
    history = staff_history(clients=200, seed=5, end=END)
    source = f"sqlite:///{tmp_path / 'supplier.db'}"
    write_source(source, staff_source_rows(history))
    collect_interval(warehouse_url, source, tmp_path / "landing", datetime(2010, 1, 1),
                     datetime(2026, 11, 1), quality_dir=tmp_path / "quality")
    engine = engine_for(warehouse_url)
    with engine.begin() as conn:
        assert conn.execute(select(quarantine)).all() == []
        record_pulse_answers(conn, pulse_answers(history).to_dict("records"), "import")
    with engine.connect() as conn:
        panel = staff_panel(conn, END)
        # a month not yet over is not read
        assert staff_panel(conn, date(2026, 10, 20))["month"].max() == month_number(
            date(2026, 9, 1))
    planted = history.managers.assign(
        month=[month_number(history.month_start(m)) for m in history.managers["month"]]
    ).sort_values(["month", "manager_id"], kind="stable").reset_index(drop=True)
    assert len(panel) == len(planted) == 5 * 36
    assert panel["manager_id"].tolist() == planted["manager_id"].tolist()
    assert panel["month"].tolist() == planted["month"].tolist()
    for column in ("clients", "orders", "tenure_months"):
        np.testing.assert_array_equal(panel[column], planted[column], err_msg=column)
    np.testing.assert_array_equal(panel["left"], planted["left"])
    np.testing.assert_allclose(panel["overtime"], planted["overtime"], atol=0.005)
    np.testing.assert_allclose(panel["load"], planted["load"], rtol=1e-4)
    np.testing.assert_array_equal(panel["pulse"], planted["pulse"])  # NaN where unanswered
    assert planted["left"].sum() >= 1 and planted["pulse"].notna().sum() >= 10


STAFF = [
    # in post, answers; opted out; left before the day; hired after it
    ("AM1", "Sidorova A.A.", "am1@staff.example", "ru", date(2020, 1, 1), None, False),
    ("AM2", "Petrov P.P.", "am2@staff.example", "en", date(2021, 1, 1), None, True),
    ("AM3", "Orlov O.O.", "am3@staff.example", "ru", date(2019, 1, 1), date(2026, 9, 30), False),
    ("AM4", "Belova B.B.", "am4@staff.example", "ru", date(2026, 12, 1), None, False),
]


def test_the_pulse_goes_once_per_person_and_quarter_and_an_opt_out_is_kept(warehouse_url):
    stage(warehouse_url, "hr_staff", [
        {"staff_id": s, "full_name": name, "email": email, "language": language,
         "position": "account_manager", "hired_on": hired, "left_on": left,
         "capacity_orders": 100.0, "pulse_opted_out": opted_out,
         "updated_at": datetime(2026, 10, 1)}
        for s, name, email, language, hired, left, opted_out in STAFF])
    secret = b"k" * 32
    engine = engine_for(warehouse_url)
    with engine.begin() as conn:
        first = send_pulse(conn, date(2026, 11, 16), "https://cx.example", secret)
    with engine.begin() as conn:
        again = send_pulse(conn, date(2026, 11, 23), "https://cx.example", secret)
    assert (first["quarter"], first["in_post"], first["queued"], first["suppressed"]) == (
        "2026-10-01", 2, 1, 1)
    assert (again["queued"], again["suppressed"], again["already"]) == (0, 0, 2)
    with engine.connect() as conn:
        rows = {r.idempotency_key: r for r in conn.execute(select(outbox))}
    assert sorted(rows) == ["pulse:AM1:2026-10-01", "pulse:AM2:2026-10-01"]
    assert rows["pulse:AM2:2026-10-01"].status == "suppressed"
    mail = rows["pulse:AM1:2026-10-01"]
    assert mail.recipient == "am1@staff.example" and mail.status == "queued"
    # the link for score 4 carries the person, the quarter and the 1-5 range
    link = next(line for line in mail.body_text.splitlines() if line.startswith("4: "))
    token = link.split("/p/")[1].split("?")[0]
    claims = verify(token, secret, purpose="pulse", now=datetime(2026, 11, 20), score=4)
    assert (claims.contact_id, claims.invitation_id) == ("AM1", "AM1:2026-10-01")
    assert link.endswith("?score=4")
    with pytest.raises(ValueError):
        verify(token, secret, purpose="pulse", now=datetime(2026, 11, 20), score=6)


def test_a_later_answer_of_the_quarter_replaces_the_earlier(warehouse_url):
    engine = engine_for(warehouse_url)
    with engine.begin() as conn:
        record_pulse_answers(conn, [
            {"staff_id": "AM1", "score": 2, "answered_at": datetime(2026, 10, 3, 9)},
            {"staff_id": "AM1", "score": 4, "answered_at": datetime(2026, 11, 20, 9)},
            {"staff_id": "AM1", "score": 5, "answered_at": datetime(2027, 1, 2, 9)}], "link")
        with pytest.raises(ValueError, match="1-5"):
            record_pulse_answers(conn, [{"staff_id": "AM1", "score": 0,
                                         "answered_at": datetime(2026, 10, 3)}], "import")
    with engine.connect() as conn:
        stored = pd.read_sql("SELECT quarter, score FROM staff_pulse_answers ORDER BY quarter",
                             conn)
    assert stored["score"].tolist() == [4, 5]
    assert quarter_of(date(2026, 12, 31)) == date(2026, 10, 1)
