"""Keys never reach a log (issue 14, section 2): ``cx serve-surveys`` runs for real (uvicorn
on loopback, its own process), a client clicks an answer link, posts the form and opens the
unsubscribe page, and the server's whole output is read back: every request is logged, by
its path with the token replaced, and no token appears anywhere in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fixtures.surveys import store_invitation

from cx_tasks.loopback import free_port
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.links import answer_token, unsubscribe_url
from cx_tasks.warehouse.db import engine_for, migrate

SECRET = "access-log secret"


def test_the_access_log_of_serve_surveys_holds_no_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    migrate(engine_for(url))
    store_invitation(url)
    engine_for(url).dispose()
    catalogue = survey_catalogue()
    survey = catalogue.for_event("delivery_completed")
    now = datetime.now(UTC)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = answer_token("inv:e1:C1", "C1", survey, catalogue, now, SECRET.encode())
    leave = unsubscribe_url(base, "inv:e1:C1", "C1", survey.id, catalogue, now,
                            SECRET.encode())
    env = {**os.environ, "CX_WAREHOUSE_URL": url, "CX_SURVEY_SECRET": SECRET,
           "CX_DATA_DIR": str(tmp_path), "CX_SURVEY_BASE_URL": base}
    env.pop("CX_AIRFLOW_API_URL", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("cx")), "serve-surveys", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=base, timeout=5) as client:
                for _ in range(200):
                    try:
                        client.get("/")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                clicked = client.get(f"/r/{token}?score=4")
                posted = client.post(f"/r/{token}", data={"comment": "fine"})
                page = client.get(leave.removeprefix(base))
                broken = client.get(f"/r/{token[:-3]}xyz?score=4")
            statuses = (clicked.status_code, posted.status_code, page.status_code,
                        broken.status_code)
        finally:
            server.terminate()
            server.wait(15)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert statuses == (200, 200, 200, 403)
    assert not {"server"} & {*clicked.headers, *broken.headers}  # no banner either
    payload = token.split(".")[0]
    leave_payload = leave.rsplit("/", 1)[1].split(".")[0]
    assert payload not in text and leave_payload not in text, text
    # each request is still logged, by its path without the token (the query kept)
    assert text.count('"GET /r/redacted?score=4 HTTP/1.1" 200') == 1, text
    assert '"POST /r/redacted HTTP/1.1" 200' in text, text
    assert '"GET /u/redacted HTTP/1.1" 200' in text, text
    assert '"GET /r/redacted?score=4 HTTP/1.1" 403' in text, text
