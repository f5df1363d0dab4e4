"""The outbox delivering to a real SMTP server on loopback (aiosmtpd), read back with
``email``: batches and single sessions, an outage mid-batch, a sender killed mid-batch,
4xx backoff and 5xx failures, and opt-outs that nothing gets past."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fixtures.smtp_peers import free_port
from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_relay import Relay, running
from sqlalchemy import delete, insert, select

from cx_tasks.mail.outbox import (
    DeliverySummary,
    FailedMessage,
    OutboxRules,
    deliver,
    enqueue,
    message_id_for,
)
from cx_tasks.mail.smtp import session_transport
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import STAGING, outbox, unsubscribes

SENDER = "cx-loop@example.com"
CREATED = datetime(2026, 5, 2, 2, 0)
T0 = datetime(2026, 5, 2, 3, 0)
RULES = OutboxRules(batch_size=10, retry_base_seconds=60, retry_cap_seconds=3600,
                    max_attempts=10)
WORKER = Path(__file__).with_name("deliver_worker.py")
FILLER = "Спасибо, что помогаете нам стать лучше.\n" * 40
"""Makes a body longer than an SMTP line (1,000 bytes): it must go as many lines."""


def _address(contact: str) -> str:
    return f"{contact}@client.example"


def _enqueue(url: str, contacts: list[str], *, kind: str = "invitation") -> list[str]:
    """One message per contact (key ``kind:contact``, a second apart); their keys."""
    with engine_for(url).begin() as conn:
        for i, contact in enumerate(contacts):
            enqueue(conn, idempotency_key=f"{kind}:{contact}", kind=kind,
                    recipient=_address(contact), subject=f"How was delivery {i}?",
                    body_text=f"Rate delivery {i}: https://cx.example/a/{contact}\n{FILLER}",
                    body_html=f"<p>Rate delivery {i}</p>\n",
                    created_at=CREATED + timedelta(seconds=i), contact_id=contact,
                    headers={"List-Unsubscribe": f"<https://cx.example/u/{contact}>"})
    return [f"{kind}:{contact}" for contact in contacts]


def _contacts(n: int) -> list[str]:
    return [f"c{i:03d}" for i in range(n)]


def _transport(port: int, *, per_message: bool = False, sessions: int = 1):
    return session_transport(lambda: smtplib.SMTP("127.0.0.1", port, timeout=5), SENDER,
                             per_message=per_message, sessions=sessions)


def _rows(url: str) -> dict[str, dict]:
    with engine_for(url).connect() as conn:
        return {r["idempotency_key"]: dict(r) for r in conn.execute(select(outbox)).mappings()}


def _at(when: datetime):
    return lambda: when


@pytest.mark.parametrize(("per_message", "at_once", "sessions"),
                         [(False, 1, 1), (True, 1, 7), (False, 2, 2), (True, 3, 7)])
def test_messages_arrive_with_their_headers_and_both_parts(warehouse_url, per_message, at_once,
                                                           sessions) -> None:
    keys = _enqueue(warehouse_url, _contacts(7))
    relay, port = Relay(), free_port()
    with running(relay, port):
        summary = deliver(warehouse_url, _transport(port, per_message=per_message,
                                                    sessions=at_once),
                          rules=RULES.model_copy(update={"batch_size": 50}), clock=_at(T0))
    assert summary == DeliverySummary(sent=7)
    # one session per batch (or per concurrent slice of it: 4 + 3), or one per message
    assert relay.sessions == sessions
    received = sorted(relay.messages(), key=lambda m: keys.index(
        next(k for k in keys if message_id_for(k) == m["Message-ID"])))
    assert [m["Message-ID"] for m in received] == [message_id_for(k) for k in keys]
    third = received[2]
    assert (third["From"], third["To"], third["Subject"]) == (
        SENDER, "c002@client.example", "How was delivery 2?")
    assert third["List-Unsubscribe"] == "<https://cx.example/u/c002>"
    assert third.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in third.iter_parts()}
    assert parts == {"text/plain": f"Rate delivery 2: https://cx.example/a/c002\n{FILLER}",
                     "text/html": "<p>Rate delivery 2</p>\n"}
    assert {r["status"] for r in _rows(warehouse_url).values()} == {"sent"}


def test_server_down_mid_batch_then_up_again_delivers_every_message_once(warehouse_url) -> None:
    keys = _enqueue(warehouse_url, _contacts(30))
    relay, port = Relay(down_after=13), free_port()
    with running(relay, port):
        # batch 1: 10 sent; batch 2: 3 sent, then 421 and the listener goes away
        first = deliver(warehouse_url, _transport(port), rules=RULES, clock=_at(T0))
    assert (first.sent, first.failed) == (13, 0)
    assert len(relay.received) == 13
    rows = _rows(warehouse_url)
    assert rows[keys[13]]["last_error"] == "421 4.3.2 service shutting down"
    assert rows[keys[13]]["next_attempt_at"] == T0 + timedelta(seconds=60)

    assert (first.retry, first.next_attempt_at) == (17, T0 + timedelta(seconds=60))

    # still down an hour later: refused, the first due batch waits again, nothing fails;
    # all 17 unsent messages were tried once (batch 3 met a closed door too) and wait
    down = deliver(warehouse_url, _transport(port), rules=RULES,
                   clock=_at(T0 + timedelta(hours=1)))
    assert (down.sent, down.retry, down.failed) == (0, 17, 0)
    rows = _rows(warehouse_url)
    assert rows[keys[13]]["last_error"].startswith("no SMTP session: ConnectionRefusedError")
    assert {rows[k]["status"] for k in keys[13:]} == {"queued"}

    relay.down_after = None
    with running(relay, port):
        up = deliver(warehouse_url, _transport(port), rules=RULES,
                     clock=_at(T0 + timedelta(hours=2)))
        again = deliver(warehouse_url, _transport(port), rules=RULES,
                        clock=_at(T0 + timedelta(days=1)))
    assert (up.sent, up.retry, up.failed) == (17, 0, 0)
    assert again == DeliverySummary()
    assert relay.copies_by_recipient() == {
        _address(k.split(":")[1]): {message_id_for(k): 1} for k in keys}
    assert {r["status"] for r in _rows(warehouse_url).values()} == {"sent"}


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    migrate(engine_for(url))
    return url


def _settled(relay: Relay) -> dict:
    """What the relay holds once it has read all that a killed client's socket had sent
    (no new message for half a second)."""
    count, quiet = len(relay.received), 0
    while quiet < 5:
        time.sleep(0.1)
        quiet = quiet + 1 if len(relay.received) == count else 0
        count = len(relay.received)
    return relay.copies_by_recipient()


def test_a_sender_killed_mid_batch_loses_nothing_and_duplicates_only_its_batch(
        sqlite_url) -> None:
    batch = 10
    keys = _enqueue(sqlite_url, _contacts(40))
    relay, port = Relay(delay=0.1), free_port()  # answers 0.1 s after storing each message
    with running(relay, port):
        worker = subprocess.Popen([sys.executable, str(WORKER), sqlite_url, str(port),
                                   str(batch)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(relay.received) < 12 and worker.poll() is None:  # 2nd message of batch 2
            assert time.monotonic() < deadline, "the worker never got going"
            time.sleep(0.005)
        assert worker.poll() is None, worker.communicate()
        os.kill(worker.pid, signal.SIGKILL)
        worker.communicate()
        before = _settled(relay)
        assert worker.returncode == -signal.SIGKILL

        rows = _rows(sqlite_url)
        in_flight = {k for k, r in rows.items() if r["status"] == "sending"}
        assert 0 < len(in_flight) <= batch  # killed mid-batch: one batch's outcome unknown
        assert {r["status"] for k, r in rows.items() if k not in in_flight} <= {"sent", "queued"}

        relay.delay = 0.0
        rerun = deliver(sqlite_url, _transport(port), rules=RULES, clock=_at(T0))
    assert rerun.resent_after_crash == len(in_flight)
    assert {r["status"] for r in _rows(sqlite_url).values()} == {"sent"}

    copies = relay.copies_by_recipient()
    recipient = {k: _address(k.split(":")[1]) for k in keys}
    # nothing lost, and every copy of a message carries that message's Message-ID
    assert {recipient[k]: set(copies[recipient[k]]) for k in keys} == {
        recipient[k]: {message_id_for(k)} for k in keys}
    duplicated = {k for k in keys if copies[recipient[k]][message_id_for(k)] > 1}
    # exactly the in-flight messages the server had already stored come twice, no more
    assert duplicated == {k for k in in_flight if recipient[k] in before}
    assert max(c[message_id_for(k)] for k, c in ((k, copies[recipient[k]]) for k in keys)) <= 2
    assert len(duplicated) <= batch


def test_a_4xx_is_retried_after_its_backoff_and_a_5xx_fails_with_the_answer(
        warehouse_url) -> None:
    keys = _enqueue(warehouse_url, ["c000", "c001", "bounce"])
    relay = Relay(first_answers={_address("c001"): ["451 4.3.0 mailbox busy"]})
    port = free_port()
    with running(relay, port):
        first = deliver(warehouse_url, _transport(port), rules=RULES, clock=_at(T0))
        assert first == DeliverySummary(sent=1, retry=1, failed=1, failures=(
            FailedMessage("invitation:bounce", "bounce@client.example",
                          "550 5.1.1 no such user"),), next_attempt_at=T0 + timedelta(seconds=60))
        later = _rows(warehouse_url)["invitation:c001"]
        assert (later["status"], later["attempts"], later["last_error"],
                later["next_attempt_at"]) == ("queued", 1, "451 4.3.0 mailbox busy",
                                              T0 + timedelta(seconds=60))
        early = deliver(warehouse_url, _transport(port), rules=RULES,
                        clock=_at(T0 + timedelta(seconds=59)))
        # not due: not claimed, not tried, still waiting
        assert early == DeliverySummary(retry=1, next_attempt_at=T0 + timedelta(seconds=60))
        due = deliver(warehouse_url, _transport(port), rules=RULES,
                      clock=_at(T0 + timedelta(seconds=60)))
        assert due == DeliverySummary(sent=1)
    assert relay.copies_by_recipient() == {
        _address("c000"): {message_id_for(keys[0]): 1},
        _address("c001"): {message_id_for(keys[1]): 1}}
    rows = _rows(warehouse_url)
    assert (rows["invitation:c001"]["status"], rows["invitation:c001"]["attempts"]) == ("sent", 2)
    assert (rows["invitation:bounce"]["status"], rows["invitation:bounce"]["last_error"]) == (
        "failed", "550 5.1.1 no such user")


def _set_opt_outs(url: str, flagged: dict[str, bool], unsubscribed: set[str]) -> None:
    """The CRM's contacts (``opted_out`` flag each) and the link unsubscribes, replaced."""
    contacts = STAGING["crm_contacts"]
    with engine_for(url).begin() as conn:
        conn.execute(delete(contacts))
        conn.execute(delete(unsubscribes))
        if flagged:
            conn.execute(insert(contacts), [
                {"contact_id": c, "client_id": "K1", "role": "operator", "full_name": c,
                 "email": _address(c), "language": "en", "opted_out": out,
                 "updated_at": CREATED, "interval_start": CREATED}
                for c, out in flagged.items()])
        if unsubscribed:
            conn.execute(insert(unsubscribes), [
                {"contact_id": c, "unsubscribed_at": CREATED, "channel": "link"}
                for c in sorted(unsubscribed)])


def test_an_opt_out_after_enqueueing_suppresses_at_send_time(warehouse_url) -> None:
    _enqueue(warehouse_url, ["c000", "c001", "c002"])
    _enqueue(warehouse_url, ["c001"], kind="acknowledgement")
    with engine_for(warehouse_url).begin() as conn:  # no contact id, but c000's address
        enqueue(conn, idempotency_key="progress:C000", kind="progress",
                recipient="C000@Client.Example", subject="s", body_text="t", created_at=CREATED)
        enqueue(conn, idempotency_key="alert:staff", kind="quality_alert",
                recipient="data-engineers@example.com", subject="s", body_text="t",
                created_at=CREATED)
    _set_opt_outs(warehouse_url, {"c000": True, "c001": False, "c002": False}, {"c001"})
    relay, port = Relay(), free_port()
    with running(relay, port):
        summary = deliver(warehouse_url, _transport(port), rules=RULES, clock=_at(T0))
    # the acknowledgement to unsubscribed c001 is transactional: it goes (issue 14)
    assert (summary.sent, summary.suppressed) == (3, 3)
    assert set(relay.copies_by_recipient()) == {"c001@client.example", "c002@client.example",
                                                "data-engineers@example.com"}
    rows = _rows(warehouse_url)
    assert {k: r["last_error"] for k, r in rows.items() if r["status"] == "suppressed"} == {
        "invitation:c000": "opted_out: contact c000 opted out in the CRM",
        "invitation:c001": "opted_out: contact c001 unsubscribed",
        "progress:C000": "opted_out: c000@client.example is the address of opted-out "
                         "contact c000",
    }
    assert rows["invitation:c000"]["attempts"] == 0  # never claimed for sending


@pytest.fixture(scope="module")
def property_peer(tmp_path_factory):
    """One migrated SQLite warehouse and one relay shared by the property's examples."""
    url = f"sqlite:///{tmp_path_factory.mktemp('optout') / 'warehouse.db'}"
    migrate(engine_for(url))
    relay, port = Relay(), free_port()
    with running(relay, port):
        yield url, relay, port
    engine_for(url).dispose()


KINDS = ["invitation", "reminder", "acknowledgement", "progress", "digest"]
message_plans = st.lists(
    st.tuples(st.integers(0, 7), st.sampled_from(KINDS), st.sampled_from(["id", "address"])),
    min_size=1, max_size=20, unique_by=lambda m: (m[0], m[1]))


@settings(max_examples=40, deadline=None)
@given(flagged=st.lists(st.booleans(), min_size=8, max_size=8),
       unsubscribed=st.sets(st.integers(0, 7)), in_crm=st.sets(st.integers(0, 7)),
       plans=message_plans, batch_size=st.integers(1, 6))
def test_opted_out_contacts_never_receive_anything(property_peer, flagged, unsubscribed,
                                                   in_crm, plans, batch_size) -> None:
    """Any contacts (in the CRM or not, flagged or not, unsubscribed or not), any message
    kinds, addressed by contact id or (for a contact the CRM knows) by address only:
    nothing but acknowledgements (transactional) reaches an opted-out contact, and
    everyone else gets each message once."""
    url, relay, port = property_peer
    with engine_for(url).begin() as conn:
        conn.execute(delete(outbox))
    relay.received.clear()
    for number, kind, addressing in plans:
        contact = f"c{number:03d}"
        by_address = addressing == "address" and number in in_crm
        with engine_for(url).begin() as conn:
            enqueue(conn, idempotency_key=f"{kind}:{contact}", kind=kind,
                    recipient=_address(contact), subject=kind, body_text=kind,
                    created_at=CREATED, contact_id=None if by_address else contact)
    _set_opt_outs(url, {f"c{i:03d}": flagged[i] for i in sorted(in_crm)},
                  {f"c{i:03d}" for i in unsubscribed})
    opted_out = {f"c{i:03d}" for i in in_crm if flagged[i]} | {
        f"c{i:03d}" for i in unsubscribed}

    summary = deliver(url, _transport(port), rules=RULES.model_copy(
        update={"batch_size": batch_size}), clock=_at(T0))

    received = [str(m["To"]) for m in relay.messages() if m["Subject"] != "acknowledgement"]
    assert not set(received) & {_address(c) for c in opted_out}
    received += [str(m["To"]) for m in relay.messages() if m["Subject"] == "acknowledgement"]
    expected = sorted(_address(f"c{n:03d}") for n, kind, _ in plans
                      if f"c{n:03d}" not in opted_out or kind == "acknowledgement")
    assert sorted(received) == expected
    assert (summary.sent, summary.suppressed) == (len(expected), len(plans) - len(expected))
