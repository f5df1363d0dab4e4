"""Ports for the local servers CX Loop starts itself (the demo's SMTP server and response app,
the tests' and benchmarks' peers)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nobody listens on (yet)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
