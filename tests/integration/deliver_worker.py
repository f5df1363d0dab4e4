"""Delivers a warehouse's outbox to a loopback SMTP server; run as a process the tests kill.

    python deliver_worker.py WAREHOUSE_URL PORT BATCH_SIZE
"""

from __future__ import annotations

import smtplib
import sys

from cx_tasks.mail.outbox import OutboxRules, deliver
from cx_tasks.mail.smtp import session_transport

SENDER = "cx-loop@example.com"

if __name__ == "__main__":
    url, port, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    transport = session_transport(lambda: smtplib.SMTP("127.0.0.1", port, timeout=10), SENDER)
    print(deliver(url, transport, rules=OutboxRules(batch_size=batch_size)), flush=True)
