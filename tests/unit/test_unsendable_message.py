"""A message that cannot be written as MIME fails alone (issue 14, section 1): it is failed
for good with the reason, and the rest of its session is sent."""

from __future__ import annotations

from datetime import datetime

from cx_tasks.mail.outbox import DeliveryOutcome, OutboxMessage
from cx_tasks.mail.smtp import send_over


class RecordingSession:
    """Stands in for an open ``smtplib.SMTP``: keeps what it was handed."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendmail(self, sender: str, recipients: list[str], data: bytes) -> dict:
        self.sent.append(data)
        return {}


def message(key: str, **change: str) -> OutboxMessage:
    fields = {"recipient": "c1@client.test", "subject": "Hello"}
    fields.update(change)
    return OutboxMessage(idempotency_key=key, message_id=f"<{key}@cx-loop>", kind="invitation",
                         body_text="text", body_html=None, created_at=datetime(2026, 6, 1),
                         attempts=1, **fields)


def test_an_unwritable_message_is_failed_with_its_reason_and_the_rest_sent() -> None:
    session = RecordingSession()
    outcomes = send_over(session, "cx@example.com", [  # type: ignore[arg-type]
        message("lone-surrogate", subject="Bad \ud800 subject"),
        message("header-injection", recipient="c1@client.test\r\nBcc: all@client.test"),
        message("good")])
    assert [(o.idempotency_key, o.result) for o in outcomes] == [
        ("lone-surrogate", "permanent"), ("header-injection", "permanent"), ("good", "sent")]
    assert outcomes[0].answer.startswith("unsendable: UnicodeEncodeError")
    assert outcomes[1].answer == "unsendable: ValueError: header To carries a line break"
    assert len(session.sent) == 1 and b"Bcc" not in session.sent[0]
    assert isinstance(outcomes[2], DeliveryOutcome)
