"""Turning outbox messages into MIME and handing them to SMTP sessions.

Opening a session (host, credentials, TLS) is the caller's business, handed in as a
factory: under Airflow the plugin opens it with ``SmtpHook`` from the ``smtp_default``
connection; the benchmark with plain ``smtplib``. This module speaks over the sessions
it gets (one per batch by default, or one per message) and reads the server's answers: a
4xx reply, a refused or dropped connection is *transient* (try again later), a 5xx reply
is *permanent*.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.header import Header
from email.message import Message
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from cx_tasks.mail.outbox import DeliveryOutcome, OutboxMessage, Transport

SessionFactory = Callable[[], smtplib.SMTP]
"""Opens a ready SMTP session (connected, greeted, logged in); raises when it cannot."""

class WirePolicy(Compat32):
    """``compat32``, except that an ASCII header value stays on its line (up to RFC 5322's
    998 characters) instead of being pushed onto a continuation line after the colon, which
    readers then see as a leading space (a long ``List-Unsubscribe`` URL)."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii() and len(name) + len(value) + 2 <= 998:
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


WIRE = WirePolicy(linesep="\r\n")
"""How outbox messages are written: SMTP's CRLF line ends, ASCII headers unbroken."""

ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})

OPEN_ERRORS: tuple[type[Exception], ...] = (OSError, smtplib.SMTPException)


def mime_message(message: OutboxMessage, sender: str) -> Message:
    """The MIME form of a message: plain text, plus an HTML alternative when there is one.

    ``Message-ID`` is the outbox's (derived from the idempotency key), so a resent copy
    is recognisably the same message; ``Date`` is the moment of sending; the message's
    own headers (``List-Unsubscribe``) follow. Bodies are UTF-8 in base64 (safe over any
    relay); non-ASCII headers are RFC 2047 encoded words. Built with the ``compat32``
    classes: about three times faster than ``EmailMessage`` (whose header folding is most
    of a send's cost) and they keep the spaces of a long non-ASCII subject, which
    ``policy.default`` drops on Python 3.11.
    """
    text = MIMEText(message.body_text, "plain", "utf-8", policy=WIRE)
    mime: Message = text
    if message.body_html is not None:
        mime = MIMEMultipart("alternative", boundary=_boundary(message.message_id),
                             policy=WIRE)
        mime.attach(text)
        mime.attach(_html_part(message))
    headers = {"From": sender, "To": message.recipient, "Subject": message.subject,
               "Message-ID": message.message_id, "Date": formatdate(usegmt=True),
               **message.headers}
    for name, value in headers.items():
        mime[name] = _header_value(name, value)
    return mime


def _html_part(message: OutboxMessage) -> Message:
    """The HTML alternative; with inline images a multipart/related of the HTML and each
    image (``Content-ID`` as the HTML's ``cid:`` links name it, shown inline)."""
    html = MIMEText(message.body_html or "", "html", "utf-8", policy=WIRE)
    if not message.inline_images:
        return html
    related = MIMEMultipart("related", boundary=_boundary(message.message_id) + "_r",
                            policy=WIRE)
    related.attach(html)
    for content_id, (kind, data) in message.inline_images.items():
        major, _, minor = kind.partition("/")
        if major != "image":
            raise ValueError(f"inline part {content_id} is not an image: {kind}")
        part = MIMEImage(data, minor, policy=WIRE)
        part["Content-ID"] = f"<{content_id}>"
        part["Content-Disposition"] = f'inline; filename="{content_id}"'
        related.attach(part)
    return related


def _boundary(message_id: str) -> str:
    """The multipart boundary of a message: ``=_cx_`` and its Message-ID's hex. It can never
    occur in the base64 parts (no ``_`` in base64), so the generator need not scan them."""
    return "=_cx_" + message_id.strip("<>").split("@")[0]


def _header_value(name: str, value: str) -> str | Header:
    """``value`` as it goes on the wire: ASCII as is, else RFC 2047 (in an address header
    only the display name); a line break is refused (it would add headers)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} carries a line break")
    if value.isascii():
        return value
    if name.lower() in ADDRESS_HEADERS:
        return formataddr(parseaddr(value), charset="utf-8")
    return Header(value, "utf-8", header_name=name)


def outcome_of_error(idempotency_key: str, error: Exception) -> DeliveryOutcome:
    """Classify an SMTP error: a 5xx answer is permanent, anything else transient."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, answer = next(iter(error.recipients.values()))
        return _answer(idempotency_key, code, answer)
    if isinstance(error, smtplib.SMTPResponseException):
        return _answer(idempotency_key, error.smtp_code, error.smtp_error)
    return DeliveryOutcome(idempotency_key, "transient", f"{type(error).__name__}: {error}")


def _answer(idempotency_key: str, code: int, answer: bytes | str) -> DeliveryOutcome:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
    result = "permanent" if 500 <= code < 600 else "transient"
    return DeliveryOutcome(idempotency_key, result, f"{code} {text}")


def send_over(
    client: smtplib.SMTP, sender: str, messages: Sequence[OutboxMessage]
) -> list[DeliveryOutcome]:
    """Send each message over one open session; one outcome per message, in order.

    A message that cannot be written as MIME (a header with a line break, text that has no
    UTF-8 form) fails for good with ``unsendable: <why>`` and the next one goes on.
    After the server drops the session the remaining messages are reported transient
    without being tried.
    """
    outcomes: list[DeliveryOutcome] = []
    for position, message in enumerate(messages):
        try:
            data = mime_message(message, sender).as_bytes()
        except Exception as error:  # noqa: BLE001 - one message's content, never the session
            outcomes.append(DeliveryOutcome(message.idempotency_key, "permanent",
                                            f"unsendable: {type(error).__name__}: {error}"))
            continue
        try:
            client.sendmail(sender, [message.recipient], data)
        except smtplib.SMTPServerDisconnected as error:
            outcomes.extend(outcome_of_error(m.idempotency_key, error)
                            for m in messages[position:])
            break
        except (smtplib.SMTPException, OSError) as error:
            outcomes.append(outcome_of_error(message.idempotency_key, error))
        else:
            outcomes.append(DeliveryOutcome(message.idempotency_key, "sent"))
    return outcomes


def unreachable(messages: Sequence[OutboxMessage], error: Exception) -> list[DeliveryOutcome]:
    """Every message transient because no session could be opened (refused, timed out).

    Even a 5xx greeting says nothing against the messages themselves, so none is failed.
    """
    answer = f"no SMTP session: {type(error).__name__}: {error}"
    return [DeliveryOutcome(m.idempotency_key, "transient", answer) for m in messages]


def close_session(client: smtplib.SMTP) -> None:
    """End a session politely (QUIT), or just drop it when the server no longer answers."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def no_delay(client: smtplib.SMTP) -> None:
    """Turn off Nagle's algorithm on the session's socket: SMTP is a conversation of small
    commands and answers, and a command held back waiting for the server's delayed ACK costs
    tens of milliseconds per message (most of all over TLS)."""
    if client.sock is not None:
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def send_in_session(
    open_session: SessionFactory,
    sender: str,
    messages: Sequence[OutboxMessage],
    open_errors: tuple[type[Exception], ...] = OPEN_ERRORS,
) -> list[DeliveryOutcome]:
    """Open one session, send ``messages`` over it, close it; a session that cannot be
    opened (one of ``open_errors``) leaves every message transient. Closing never loses
    the outcomes already read."""
    try:
        client = open_session()
    except open_errors as error:
        return unreachable(messages, error)
    try:
        no_delay(client)
        return send_over(client, sender, messages)
    finally:
        close_session(client)


def session_transport(
    open_session: SessionFactory,
    sender: str,
    *,
    per_message: bool = False,
    sessions: int = 1,
    open_errors: tuple[type[Exception], ...] = OPEN_ERRORS,
) -> Transport:
    """A ``send_batch`` for ``outbox.deliver``: each batch over one session from
    ``open_session``, or with ``per_message`` one session for every message. With
    ``sessions`` > 1 the batch is cut into that many consecutive slices sent at the same time,
    each over its own session(s) (one client's turn-taking with the server no longer idles
    the other core); outcomes come back in the batch's order either way."""

    def send_slice(messages: Sequence[OutboxMessage]) -> list[DeliveryOutcome]:
        groups = [[m] for m in messages] if per_message else [messages]
        return [outcome for group in groups
                for outcome in send_in_session(open_session, sender, group, open_errors)]

    def send_batch(messages: list[OutboxMessage]) -> list[DeliveryOutcome]:
        if sessions == 1 or len(messages) < 2:
            return send_slice(messages)
        size = -(-len(messages) // sessions)
        slices = [messages[i:i + size] for i in range(0, len(messages), size)]
        with ThreadPoolExecutor(max_workers=len(slices)) as pool:
            return [o for outcomes in pool.map(send_slice, slices) for o in outcomes]

    return send_batch
