"""A local SMTP server that stores every received message as an ``.eml`` file.

Used by the demo (``cx demo``, ``cx smtp-sink``) and by tests as the real SMTP peer on
loopback: messages arrive over a real SMTP session and are written byte for byte.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from cx_tasks.loopback import free_port


@dataclass
class MailFolder:
    """The aiosmtpd handler: writes each message to ``folder/NNNNNN-<hash>.eml``."""

    folder: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        start = len(list(self.folder.glob("*.eml"))) + 1
        self._counter = itertools.count(start)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else content.encode()
        digest = hashlib.sha256(data).hexdigest()[:12]
        with self._lock:
            path = self.folder / f"{next(self._counter):06d}-{digest}.eml"
            path.write_bytes(data)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        """Every stored message, parsed, in arrival order."""
        return [
            message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for p in sorted(self.folder.glob("*.eml"))
        ]


class SmtpSink:
    """A running SMTP server on loopback that stores messages in a folder."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.mail = MailFolder(folder)
        self._controller = Controller(self.mail, hostname=host, port=port or free_port(host))

    @property
    def host(self) -> str:
        return self._controller.hostname

    @property
    def port(self) -> int:
        return self._controller.port

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def smtp_connection_json(self, from_email: str = "cx-loop@example.com") -> str:
        """The ``smtp_default`` Airflow connection (JSON form) pointing at this server."""
        return json.dumps({
            "conn_type": "smtp", "host": self.host, "port": self.port,
            "extra": {"from_email": from_email, "disable_ssl": True, "disable_tls": True,
                      "timeout": 10, "retry_limit": 1},
        })
