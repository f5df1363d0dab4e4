"""HTML pages printed to PDF by one headless Chromium session: Chromium's own print-to-PDF
(the DevTools protocol's ``Page.printToPDF``) spoken over ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-terminated JSON), so a run's packs cost one browser start, not one
each."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
LOAD_SECONDS = 60.0
"""How long a page may take to load before printing fails."""


class _Chromium:
    """A headless Chromium whose DevTools protocol is spoken over a pipe."""

    def __init__(self, chromium: str, profile: Path) -> None:
        theirs_in, self._to = os.pipe()
        self._from, theirs_out = os.pipe()

        def wire() -> None:  # in the child: the pipe on the descriptors Chromium reads
            os.dup2(theirs_in, 3)
            os.dup2(theirs_out, 4)

        self._process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, pass_fds=(3, 4, theirs_in, theirs_out))  # noqa: PLW1509
        os.close(theirs_in)
        os.close(theirs_out)
        self._sent = 0
        self._pending = b""

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events in between are skipped)."""
        self._sent += 1
        message: dict[str, Any] = {"id": self._sent, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._pending:
                chunk = os.read(self._from, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium exited during {method}")
                self._pending += chunk
            raw, self._pending = self._pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._sent:
                if "error" in reply:
                    raise RuntimeError(f"chromium: {method}: {reply['error']}")
                return reply["result"]

    def close(self) -> None:
        """Close the browser and wait for it."""
        try:
            self.call("Browser.close")
        except RuntimeError:
            pass
        finally:
            os.close(self._to)
            os.close(self._from)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def print_page(self, page: Path, pdf: Path) -> None:
        """``page`` (a local file) printed to ``pdf`` in a tab of its own."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.navigate", session, url=page.as_uri())
        waited = 0.0
        while self.call("Runtime.evaluate", session, expression="document.readyState"
                        )["result"]["value"] != "complete":
            if waited > LOAD_SECONDS:
                raise RuntimeError(f"chromium: {page.name} did not load")
            time.sleep(0.05)
            waited += 0.05
        data = self.call("Page.printToPDF", session, printBackground=True,
                         displayHeaderFooter=False)["data"]
        pdf.write_bytes(base64.b64decode(data))
        self.call("Target.closeTarget", targetId=target)


def print_pdfs(pages: Sequence[tuple[str, Path]], chromium: str = CHROMIUM) -> list[Path]:
    """Each ``(html, pdf)`` printed to its ``pdf`` by one headless Chromium; the PDFs."""
    if not pages:
        return []
    with tempfile.TemporaryDirectory(prefix="cx-print-") as folder:
        browser = _Chromium(chromium, Path(folder) / "profile")
        try:
            for number, (html, pdf) in enumerate(pages):
                page = Path(folder) / f"page-{number}.html"
                page.write_text(html, encoding="utf-8")
                pdf.parent.mkdir(parents=True, exist_ok=True)
                browser.print_page(page, pdf)
        finally:
            browser.close()
    return [pdf for _, pdf in pages]
