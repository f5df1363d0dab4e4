"""The funnel check names every stage that produced too little."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine

from cx_tasks.demo.funnel import FunnelBroken, FunnelLine, check, shortfalls
from cx_tasks.demo.stages import demo_funnel
from cx_tasks.feedback import funnel as feedback_funnel
from cx_tasks.surveys import funnel as surveys
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import (
    feedback,
    feedback_acknowledgements,
    outbox,
    survey_invitations,
    survey_responses,
)


def test_a_stage_below_its_minimum_is_named_and_the_others_are_not() -> None:
    lines = [FunnelLine("invitations sent", 505, 1),
             FunnelLine("answers stored", 0, 101, "at least 20% of 505 invitations"),
             FunnelLine("acknowledgements accepted", 0, 1)]
    assert [line.stage for line in shortfalls(lines)] == ["answers stored",
                                                            "acknowledgements accepted"]
    with pytest.raises(FunnelBroken, match=r"answers stored \(0, at least 101 expected\)"):
        check(lines)


def test_exactly_the_minimum_passes() -> None:
    check([FunnelLine("answers stored", 101, 101)])


# --- the demo's funnel over a warehouse ------------------------------------------------------

AT = datetime(2026, 11, 1, 9, 0)


def _warehouse(tmp_path: Path) -> Engine:
    engine = engine_for(f"sqlite:///{tmp_path / 'warehouse.db'}")
    migrate(engine)
    return engine


def _invitations(conn: Connection, sent: int) -> None:
    conn.execute(survey_invitations.insert(), [dict(
        invitation_id=f"inv:e1:C{n}", event_id="e1", survey_id="tx_delivery_completed",
        kind="transactional", client_id="K1", contact_id=f"C{n}", role="operator",
        language="en", scheduled_at=AT, planned_in=AT, sent_at=AT) for n in range(sent)])


def _answers(conn: Connection, contacts: list[str], acknowledged: dict[str, str | None]) -> None:
    """Survey answers of ``contacts``; ``acknowledged`` maps a contact to its decision's
    reason (None: acknowledged, its e-mail accepted by the SMTP server)."""
    for contact in contacts:
        fid = f"survey:inv:e1:{contact}"
        conn.execute(survey_responses.insert().values(
            invitation_id=f"inv:e1:{contact}", survey_id="tx_delivery_completed", client_id="K1",
            contact_id=contact, role="operator", first_answered_at=AT, updated_at=AT))
        conn.execute(feedback.insert().values(
            feedback_id=fid, source="survey", channel="email_link", client_id="K1",
            contact_id=contact, occurred_at=AT, recorded_at=AT))
        if contact not in acknowledged:
            continue
        reason = acknowledged[contact]
        conn.execute(feedback_acknowledgements.insert().values(
            feedback_id=fid, reference=f"CX-{contact}", owner="service",
            status="not_acknowledged" if reason else "acknowledged", reason=reason,
            decided_at=AT))
        if reason is None:
            conn.execute(outbox.insert().values(
                idempotency_key=f"ack:{fid}", message_id=f"<{contact}@cx-loop>",
                kind="acknowledgement", recipient=f"{contact}@client.test", subject="s",
                body_text="b", status="sent", attempts=1, created_at=AT, sent_at=AT))


def _line(lines: list[FunnelLine], stage: str) -> FunnelLine:
    return next(line for line in lines if line.stage == stage)


def test_no_answer_to_ten_invitations_fails_naming_answers_stored(tmp_path: Path) -> None:
    engine = _warehouse(tmp_path)
    with engine.begin() as conn:
        _invitations(conn, 10)
    lines = demo_funnel(engine, (surveys.funnel_lines,))
    # 20% of 10 invitations = 2 answers at least; none stored
    assert [(x.stage, x.count, x.minimum) for x in lines] == [
        ("invitations sent", 10, 1), ("answers stored", 0, 2)]
    with pytest.raises(FunnelBroken, match=r"^the loop is broken at: answers stored \(0, at least"
                                           r" 2 expected\)$"):
        check(lines)


def test_eleven_invitations_need_three_answers(tmp_path: Path) -> None:
    engine = _warehouse(tmp_path)
    with engine.begin() as conn:
        _invitations(conn, 11)
        _answers(conn, ["C0", "C1", "C2"], {})
    # 20% of 11 = 2.2, rounded up: 3
    assert _line(demo_funnel(engine, (surveys.funnel_lines,)), "answers stored").passed


def test_every_answer_from_a_contact_not_opted_out_needs_its_acknowledgement(
        tmp_path: Path) -> None:
    engine = _warehouse(tmp_path)
    with engine.begin() as conn:
        # C0, C1 acknowledged; C2 opted out (owes nothing); C3 undecided (owes one)
        _answers(conn, ["C0", "C1", "C2", "C3"], {"C0": None, "C1": None, "C2": "opted_out"})
    line = _line(demo_funnel(engine, (feedback_funnel.funnel_lines,)),
                 "acknowledgements accepted by the SMTP server")
    assert (line.count, line.minimum, line.passed) == (2, 3, False)


def test_an_empty_warehouse_fails_at_every_stage(tmp_path: Path) -> None:
    lines = demo_funnel(_warehouse(tmp_path))
    assert [line.stage for line in shortfalls(lines)] == [
        "trigger events detected", "invitations sent", "answers stored",
        "acknowledgements accepted by the SMTP server", "feedback classified",
        "findings routed", "cases opened", "cases acknowledged", "cases closed",
        "cases escalated", "initiatives proposed", "initiatives approved",
        "progress e-mails sent", "KPIs published", "digests sent",
        "adjust: model rounds (versions judged)", "adjust: working-group packs sent",
        "adjust: at-risk predictions scored"]
