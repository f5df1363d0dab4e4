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
    assert titles["daily"] == ["New detractors and low scores", "Findings without an owner",
                               "Data-quality failures", "Events awaiting surveys",
                               "Acknowledgements overdue"]
    assert len(titles["weekly"]) == 7
    owner = _digest("owner")
    # logistics owns one finding, due 2026-10-15, before the period's end: overdue
    assert "12 complaints about order fulfilment" in owner.text
    assert "OTIF of C00044" not in owner.text and "1 findings, 1 overdue." in owner.text
    assert len(SECTIONS["owner"]) == 1  # the implement stage appends cases and initiatives


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
