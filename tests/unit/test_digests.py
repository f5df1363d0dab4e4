"""Digests: sections from builders, HTML and text parts, inline charts by Content-ID, the
outbox exactly once per recipient and period, nothing sent when there is nothing to say."""

from __future__ import annotations

import email
import re
from datetime import date
from email import policy
from pathlib import Path

from fixtures.digest_data import END, SCOPES, START, sample_data

from cx_tasks.mail.outbox import claim_batch
from cx_tasks.mail.smtp import mime_message
from cx_tasks.monitor.digest_run import write_digests
from cx_tasks.monitor.digests import (
    SECTIONS,
    DigestData,
    render_digest,
    save_digest,
    sections_of,
    send_digest,
)
from cx_tasks.monitor.rules import monitor_rules
from cx_tasks.warehouse.db import engine_for


def _digest(kind: str):
    data = sample_data()
    return render_digest(data, SCOPES[kind], sections_of(data, SCOPES[kind]))


def test_the_weekly_digest_travels_as_real_mime_with_its_charts_inline(
        warehouse_url: str) -> None:
    digest = _digest("weekly")
    with engine_for(warehouse_url).begin() as conn:
        assert send_digest(conn, digest, START, END) == 1
        assert send_digest(conn, digest, START, END) == 0  # exactly once per period
        claimed = claim_batch(conn, limit=10, kinds=["digest"], now=END)
    [message] = claimed.messages
    parsed = email.message_from_bytes(mime_message(message, "cx@example.com").as_bytes(),
                                      policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    text, related = parsed.get_payload()
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, *images = related.get_payload()
    assert html.get_content_type() == "text/html"
    ids = sorted(i["Content-ID"] for i in images)
    assert ids == ["<kpi_trend.png>", "<pareto.png>"]
    body = html.get_content()
    for image in images:  # every image the HTML shows is a part, and a real PNG
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in body
        assert image.get_content_type() == "image/png"
        assert image.get_content().startswith(b"\x89PNG")
    assert message.idempotency_key == ("digest:weekly:cx_team:2026-10-26T05:00:00:"
                                       "cx@example.com")
    assert "NPS" in text.get_content() and "12 [-3, 27]" in text.get_content()


def test_client_text_is_escaped_in_html_and_plain_in_text() -> None:
    digest = _digest("daily")
    assert "Поставка &lt;b&gt;опять&lt;/b&gt; опоздала &amp; упаковка порвана" in digest.html
    assert "Поставка <b>опять</b> опоздала & упаковка порвана" in digest.text


def test_figures_below_min_n_and_missing_values_never_read_nan_or_none() -> None:
    weekly = _digest("weekly")
    # the metals segment has n 9: shown as "n < 10"; a missing week shows an em dash
    assert "n &lt; 10 (n 9)" in weekly.html and "n < 10 (n 9)" in weekly.text
    for digest in (weekly, _digest("daily"), _digest("owner"), _digest("manager")):
        for part in (digest.html, digest.text):
            assert not re.search(r"\bnan\b|\bNone\b", part, re.IGNORECASE)


def test_each_kind_has_its_sections_and_an_owner_sees_only_their_findings() -> None:
    data = sample_data()
    titles = {kind: [s.title for s in sections_of(data, scope)]
              for kind, scope in SCOPES.items()}
    assert titles["daily"] == ["New detractors and low scores", "Cases overdue and escalated",
                               "Findings without an owner", "Data-quality failures",
                               "Events awaiting surveys", "Acknowledgements overdue"]
    assert len(titles["weekly"]) == 9
    assert titles["owner"] == ["Your cases", "Your findings", "Your initiatives"]
    assert titles["manager"] == ["Your clients' scores (raw, by month; n in brackets)",
                                 "Open cases of your clients", "Findings on your clients"]
    owner = _digest("owner")
    # logistics owns one finding, due 2026-10-15, before the period's end: overdue
    assert "12 complaints about order fulfilment" in owner.text
    assert "OTIF of C00044" not in owner.text and "1 findings, 1 overdue." in owner.text
    assert len(SECTIONS["owner"]) == 3


def test_the_implement_stages_sections_show_cases_with_their_clocks_and_initiatives() -> None:
    daily, weekly = _digest("daily").text, _digest("weekly").text
    # case:fb1's acknowledge clock ran out 10-31 10:00, before the end (11-02 05:00)
    assert ("1 cases overdue at 2026-11-02 05:00 UTC; 1 escalation steps taken in the "
            "period.") in daily
    assert ("reminder (acknowledge clock) of case:fb1 (C00012, logistics) to "
            "logistics@example.com at 2026-10-30 22:00") in daily
    assert ("C00012 | detractor | logistics | open | 2026-10-31 10:00 | 2026-11-01 10:00 | "
            "overdue") in daily
    assert "By status: approved 1, proposed 1, rejected 1." in weekly
    assert "1 with an overdue milestone, 1 stalled." in weekly
    assert ("Order fulfilment <metals> | Petrov | approved | Root cause found 2026-10-08 | 1 "
            "| stalled") in weekly and "Payments in metals" not in weekly
    assert "2 cases open, 1 overdue at 2026-11-02 05:00 UTC." in weekly
    assert "logistics (Petrov) | 1 | 1 | 3.0 | 20.0 | 100% | 1" in weekly
    assert "quality | 1 | 0 | 2.5 | — | — | 0" in weekly
    owner = _digest("owner")  # logistics: case:fb1 open; case:fb3 closed; fb2 is quality's
    assert "1 open, 1 with a clock run out." in owner.text
    assert ("C00012 | detractor | Поставка <b>опять</b> опоздала & упаковка порвана | open | "
            "2026-10-31 10:00 | 2026-11-01 10:00 | overdue") in owner.text
    assert "Поставка &lt;b&gt;опять&lt;/b&gt; опоздала &amp;" in owner.html
    assert "C00044" not in owner.text and "contact_request" not in owner.text
    assert "Order fulfilment &lt;metals&gt;" in owner.html
    assert "Documents in chemicals" not in owner.text
    manager = _digest("manager").text  # Ефимова Е.В.: C00012's open case only
    assert "C00012 | detractor | logistics | open" in manager and "low_csat" not in manager


def test_cases_and_initiatives_are_read_as_they_stood_at_the_periods_end(
        warehouse_url: str) -> None:
    from datetime import datetime, timedelta

    from cx_tasks.monitor.digest_run import load_digest_data
    from cx_tasks.warehouse.schema import (
        case_escalations,
        case_history,
        cases,
        initiative_history,
        initiative_milestones,
        initiatives,
    )

    def case(case_id: str, owner: str, opened: datetime, ack: datetime | None,
             closed: datetime | None, status: str) -> dict:
        return {"case_id": case_id, "feedback_id": case_id, "client_id": "K1",
                "contact_id": None, "trigger": "detractor", "owner": owner,
                "owner_person": None, "owner_email": f"{owner}@example.com", "status": status,
                "opened_at": opened, "acknowledged_at": ack, "closed_at": closed,
                "note": "fixed" if closed else None}

    t = datetime
    rows = [  # END is 2026-11-02 05:00
        case("A", "logistics", t(2026, 10, 30, 10), t(2026, 11, 2, 9), None, "acknowledged"),
        case("B", "quality", t(2026, 11, 1, 12), t(2026, 11, 1, 14), None, "acknowledged"),
        case("C", "logistics", t(2026, 10, 27, 9), t(2026, 10, 27, 12), t(2026, 10, 28, 5),
             "closed"),
        case("D", "logistics", t(2026, 11, 2, 6), None, None, "open")]
    history = [{"case_id": r["case_id"], "changed_at": at, "status": status,
                "previous": None, "actor": "x", "channel": "cli", "note": None}
               for r in rows for at, status in ((r["opened_at"], "open"),
                                                (r["acknowledged_at"], "acknowledged"),
                                                (r["closed_at"], "closed")) if at]
    steps = [{"case_id": "A", "clock": "acknowledge", "step": step, "due_at": at,
              "recipient": "logistics@example.com", "escalated_at": at}
             for step, at in (("reminder", t(2026, 10, 30, 22)),
                              ("manager", t(2026, 11, 2, 10)))]
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(cases.insert(), rows)
        conn.execute(case_history.insert(), history)
        conn.execute(case_escalations.insert(), steps)
        conn.execute(initiatives.insert(), {
            "initiative_id": "I1", "title": "Fix orders", "process_class": "order_fulfilment",
            "segment": "metals", "owner": "logistics", "status": "in_progress",
            "proposed_on": date(2026, 10, 1), "evidence": "{}", "expected_effect": "{}"})
        conn.execute(initiative_milestones.insert(), [
            {"initiative_id": "I1", "milestone_id": m, "position": i, "title_en": title,
             "title_ru": title, "planned_on": planned, "reached_on": reached,
             "client_visible": False}
            for i, (m, title, planned, reached) in enumerate((
                ("root_cause", "Root cause found", date(2026, 10, 9), date(2026, 11, 2)),
                ("fix_in_place", "Fix in place", date(2026, 11, 1), None)))])
        # I2: proposed 10-30, approved after the end, its milestone planned then for 10-31
        conn.execute(initiatives.insert(), {
            "initiative_id": "I2", "title": "Fix documents", "process_class": "documents",
            "segment": "metals", "owner": "documents", "status": "approved",
            "proposed_on": date(2026, 10, 30), "evidence": "{}", "expected_effect": "{}"})
        conn.execute(initiative_milestones.insert(), {
            "initiative_id": "I2", "milestone_id": "root_cause", "position": 0,
            "title_en": "Root cause found", "title_ru": "x", "planned_on": date(2026, 10, 31),
            "reached_on": None, "client_visible": False})
        conn.execute(initiative_history.insert(), [
            {"initiative_id": i, "changed_at": at, "status": status, "previous": None,
             "actor": "x", "channel": "cli", "note": None}
            for i, at, status in (
                ("I1", t(2026, 10, 1, 12), "proposed"), ("I1", t(2026, 10, 2, 12), "approved"),
                ("I1", t(2026, 11, 2, 10), "milestone:root_cause"),
                ("I1", t(2026, 11, 2, 10, 1), "in_progress"),
                ("I2", t(2026, 10, 30), "proposed"), ("I2", t(2026, 11, 2, 9), "approved"))])
    with engine_for(warehouse_url).connect() as conn:
        data = load_digest_data(conn, START, END, monitor_rules())
    found = data.cases.set_index("case_id")
    # D opened after the end; A was acknowledged after it: open then, 24 h clock out 10-31
    assert sorted(found.index) == ["A", "B", "C"]
    assert found.loc["A", "status"] == "open" and bool(found.loc["A", "overdue"])
    assert found.loc["A", "acknowledge_by"] == t(2026, 10, 31, 10)
    assert not found.loc["B", "overdue"]  # acknowledged; closes by 11-03 12:00
    assert found.loc["B", "close_by"] == t(2026, 11, 3, 12)
    assert data.escalations["step"].tolist() == ["reminder"]  # "manager" came after the end
    report = data.case_owners.set_index("owner")
    # logistics: A open and overdue, C acknowledged after 3 h, closed after 20 h (<= 48 h)
    assert report.loc["logistics"].tolist() == [None, 1, 1, 3.0, 20.0, 1.0, 1]  # the team
    assert report.loc["quality", "median_acknowledge_h"] == 2.0
    initiative, proposal = data.initiatives.sort_values("initiative_id").itertuples()
    # I2 was still a proposal at the end: nothing planned yet, nothing overdue
    assert (proposal.status, proposal.next_planned, proposal.overdue) == ("proposed", None, 0)
    # at the end: approved (in progress only after it), no milestone reached, both planned
    # days passed; last change 10-02 12:00, 30.7 days before: stalled (21 days)
    assert (initiative.status, initiative.next_milestone, initiative.next_planned,
            initiative.overdue, initiative.stalled) == (
        "approved", "Root cause found", date(2026, 10, 9), 2, True)
    assert initiative.last_change == t(2026, 10, 2, 12)
    assert END - initiative.last_change > timedelta(days=21)


def test_a_digest_with_nothing_to_say_is_not_sent_unless_configured(
        warehouse_url: str, tmp_path: Path) -> None:
    empty = DigestData(start=START, end=END)
    assert not render_digest(empty, SCOPES["daily"], sections_of(empty, SCOPES["daily"])
                             ).says_something
    rules = monitor_rules()
    quiet = write_digests(warehouse_url, "daily", START, END, tmp_path, rules, date(2026, 11, 2))
    assert (quiet["digests"], quiet["empty"], quiet["enqueued"]) == (0, 1, 0)
    loud_rules = rules.model_copy(update={"digests": rules.digests.model_copy(
        update={"send_when_empty": True})})
    loud = write_digests(warehouse_url, "daily", START, END, tmp_path, loud_rules,
                         date(2026, 11, 2))
    assert (loud["digests"], loud["enqueued"]) == (1, 1)
    assert Path(loud["files"][0]).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_saved_digest_links_its_images_as_files(tmp_path: Path) -> None:
    path = save_digest(_digest("weekly"), tmp_path)
    html = path.read_text(encoding="utf-8")
    assert 'src="cx_team-kpi_trend.png"' in html and "cid:" not in html
    assert (tmp_path / "cx_team-pareto.png").read_bytes().startswith(b"\x89PNG")


def test_the_digest_timetables_follow_the_cx_teams_time_zone() -> None:
    from cx_tasks.monitor.rules import digest_crons

    # monitor.yaml: 08:00, weekly on weekday 0 (Monday) = cron day 1, Europe/Moscow
    assert digest_crons() == {"daily": ("0 8 * * *", "Europe/Moscow"),
                              "weekly": ("0 8 * * 1", "Europe/Moscow")}


def test_the_weekly_pareto_is_one_window_the_longest(warehouse_url: str) -> None:
    from datetime import date as day

    from cx_tasks.monitor.digest_run import load_digest_data
    from cx_tasks.warehouse.schema import pareto_causes

    rows = [{"period_start": start, "period_end": day(2026, 11, 1), "segment": "all",
             "measure": "count", "process_class": pc, "rank": rank, "complaints": 10,
             "revenue": 1.0, "share": 0.5, "cumulative_share": 0.5 * rank, "vital_few": True}
            for start in (day(2026, 8, 3), day(2026, 10, 2))
            for rank, pc in enumerate(("documents", "payments"), start=1)]
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(pareto_causes.insert(), rows)
    with engine_for(warehouse_url).connect() as conn:
        data = load_digest_data(conn, START, END, monitor_rules())
    # 90 days (from 2026-08-03) and 30 days (from 2026-10-02) end on 2026-11-01: one shown
    assert data.pareto["period_start"].tolist() == [day(2026, 8, 3)] * 2


def test_the_weekly_trends_are_the_stored_months_per_segment() -> None:
    weekly = _digest("weekly").text
    assert "metric | segment | 2026-09 | 2026-10 | 2026-11 (to 11-02)" in weekly
    assert ("otif_line | metals | 0.840 (n 320 lines) | 0.810 (n 300 lines) | 0.500 (n 2 "
            "lines)") in weekly
    # no gross margin stored for October: an em dash, never nan
    assert "gross_margin_pct | metals | 18.200 (n 5 clients) | — | 17.000 (n 3 clients)" \
        in weekly
