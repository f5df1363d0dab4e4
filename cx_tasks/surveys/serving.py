"""The response app answering HTTP from a background thread (the demo and the browser test;
production runs it with ``cx serve-surveys`` or mounted in Airflow's api-server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from cx_tasks.loopback import free_port


@contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0,
            start_timeout_s: float = 30.0) -> Iterator[str]:
    """``app`` under uvicorn on ``host:port`` (a free port when 0) while the block runs;
    yields its base URL."""
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                            server_header=False))
    thread = threading.Thread(target=server.run, name="response-app", daemon=True)
    thread.start()
    waited = threading.Event()
    for _ in range(int(start_timeout_s / 0.05)):
        if server.started or not thread.is_alive():
            break
        waited.wait(0.05)
    if not server.started:
        server.should_exit = True
        raise RuntimeError(f"the response app did not start on {host}:{port}")
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
