"""A scriptable SMTP relay on loopback (aiosmtpd) for the outbox's delivery tests.

It keeps every accepted message, can answer a recipient with scripted codes first (451,
then accept), bounces ``bounce@`` addresses with 550, can take its time after storing a
message (so a client can be killed while waiting for the answer), and can go down after
N messages: the next MAIL gets 421 and the listener is stopped, so later sessions are
refused until it is started again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


class Relay:
    """The aiosmtpd handler: scripted answers, stored messages, an optional outage."""

    def __init__(self, *, first_answers: dict[str, list[str]] | None = None,
                 delay: float = 0.0, down_after: int | None = None) -> None:
        self.received: list[bytes] = []
        self.peers: list[tuple[str, int]] = []
        self.first_answers = {k: list(v) for k, v in (first_answers or {}).items()}
        self.delay = delay
        self.down_after = down_after
        self.went_down = threading.Event()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.down_after is not None and len(self.received) >= self.down_after:
            self.went_down.set()
            return "421 4.3.2 service shutting down"
        self.peers.append(session.peer)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce@"):
            return "550 5.1.1 no such user"
        scripted = self.first_answers.get(address)
        if scripted:
            return scripted.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content or envelope.content)
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 queued"

    @property
    def sessions(self) -> int:
        """How many SMTP connections sent at least one MAIL."""
        return len(set(self.peers))

    def messages(self) -> list[EmailMessage]:
        """Every accepted message parsed back (SMTP's CRLF read as newlines), in order."""
        return [message_from_bytes(raw.replace(b"\r\n", b"\n"),  # type: ignore[misc]
                                   policy=policy.default)
                for raw in list(self.received)]

    def copies_by_recipient(self) -> dict[str, Counter[str]]:
        """For each recipient, how many copies arrived under each Message-ID."""
        copies: dict[str, Counter[str]] = {}
        for mail in self.messages():
            copies.setdefault(str(mail["To"]), Counter())[str(mail["Message-ID"])] += 1
        return copies


@contextmanager
def running(relay: Relay, port: int) -> Iterator[Controller]:
    """``relay`` listening on 127.0.0.1:``port`` until the block ends; when it goes down
    (``down_after``) its listener is stopped at once by a watcher thread."""
    relay.went_down.clear()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    stopped = threading.Event()

    def stop_when_down() -> None:
        while not relay.went_down.wait(0.05):
            if stopped.is_set():
                return
        controller.stop()

    watcher = threading.Thread(target=stop_when_down, daemon=True)
    watcher.start()
    try:
        yield controller
    finally:
        stopped.set()
        watcher.join()
        if not relay.went_down.is_set():
            controller.stop()
