"""The implementation report and a "you said, we did" e-mail in headless Chromium: every
part renders (initiatives with milestones, cases per owner, the e-mail's notices) and no
value shows as ``nan`` or ``None``.

Chromium renders each page and dumps the DOM it built (``--dump-dom``; no chromedriver
needed). Skips without Debian's ``chromium``, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fixtures.implement_world import AS_OF, complaint, pareto, seed_world
from sqlalchemy import select

from cx_tasks.feedback.acknowledgement import LinkSettings
from cx_tasks.feedback.rules import owners
from cx_tasks.implement.cases import open_cases, question_kinds
from cx_tasks.implement.escalation import escalate
from cx_tasks.implement.initiatives import decide, propose, reach
from cx_tasks.implement.links import LinkKeys
from cx_tasks.implement.progress_mail import send_progress
from cx_tasks.implement.report import write_report
from cx_tasks.implement.rules import implement_rules
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import feedback, outbox

RULES = implement_rules()
NOW = datetime(2026, 11, 20, 12)
INIT = "init:metals:documents:2026-11-01"


def _world(url: str) -> None:
    seed_world(url)
    for n in range(3):
        complaint(url, f"claim:D{n}", "K1", "C1", f"Опять нет сертификатов <по заказу {n}>",
                  "documents", datetime(2026, 10, 20 + n, 9))
    pareto(url, "metals", "documents", 3)
    with engine_for(url).begin() as conn:
        conn.execute(feedback.insert(), {
            "feedback_id": "survey:i1", "source": "survey", "channel": "email_survey",
            "client_id": "K1", "contact_id": "C2", "role": "technical_buyer", "text": "Slow",
            "scores": json.dumps({"nps": 3}), "ref_id": None,
            "occurred_at": datetime(2026, 11, 19, 9), "recorded_at": datetime(2026, 11, 19, 9)})
    keys = LinkKeys("https://cx.example/s", b"k")
    open_cases(url, now=NOW, rules=RULES.cases, owners=owners(),
               kinds=question_kinds(survey_catalogue()), keys=keys)
    escalate(url, now=NOW, rules=RULES.cases, owners=owners(), keys=keys)
    propose(url, AS_OF, rules=RULES.initiatives, owners=owners())
    with engine_for(url).begin() as conn:
        decide(conn, INIT, "approve", actor="lead", channel="cli",
               now=datetime(2026, 11, 2), rules=RULES.initiatives)
        reach(conn, INIT, "fix_in_place", on=date(2026, 11, 15), actor="anna", channel="cli",
              now=datetime(2026, 11, 15))
    send_progress(url, now=NOW, rules=RULES.progress, owners=owners(),
                  links=LinkSettings("https://cx.example/s", b"k", survey_catalogue()))


class _Page(HTMLParser):
    """The rendered DOM's visible text, and the text of every element by class or id."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.open: list[tuple[str, dict[str, str | None]]] = []
        self.parts: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if any(tag in ("style", "script", "title") for tag, _ in self.open):
            return
        self.text.append(data)
        for _, attrs in self.open:
            for name in (attrs.get("class") or "").split() + [f"#{attrs.get('id')}"]:
                self.parts.setdefault(name, []).append(data)

    def part(self, name: str) -> str:
        return " ".join(" ".join(self.parts.get(name, [])).split())

    @property
    def body(self) -> str:
        return " ".join(" ".join(self.text).split())


def rendered(path: Path) -> tuple[str, _Page]:
    """The DOM headless Chromium built from ``path``, and its text."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: chromium missing")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    dom = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", path.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    page = _Page()
    page.feed(dom)
    return dom, page


def test_report_and_progress_email_render(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate(engine_for(url))
    _world(url)
    with engine_for(url).connect() as conn:
        report = write_report(conn, RULES.cases.clocks, NOW, tmp_path / "reports", owners())
        mail = conn.execute(select(outbox.c.body_html)
                            .where(outbox.c.kind == "progress")).scalar_one()
    engine_for(url).dispose()
    email = tmp_path / "progress.html"
    email.write_text(mail, encoding="utf-8")

    dom, page = rendered(report)
    # one initiative row, one owner row, the totals
    assert dom.count('class="initiative"') == 1 and f'data-id="{INIT}"' in dom
    assert dom.count('class="owner"') == 1 and 'data-owner="customer_experience"' in dom
    # root cause planned 2026-11-09, not reached by 2026-11-20: overdue
    initiative = page.part("initiative")
    assert "(1 overdue)" in initiative
    assert "Fix in place *: 2026-12-02 / 2026-11-15" in initiative
    # one case (survey: customer_experience), open, overdue: opened 11-19 09:00, its
    # acknowledge clock ran out 11-20 09:00; never acknowledged or closed: "—"; 27 h after
    # opening three steps were due: acknowledge reminder (12 h) and manager (24 h), close
    # reminder (24 h)
    assert page.part("#all-owners") == "all 1 1 1 — — — 3"
    # the owner's department by name, and whom its cases went to: no person owns a survey's
    # case, so the team, at its address (owners.yaml)
    assert page.part("owner") == ("Customer Experience team customer_experience the team "
                                  "cx@example.com 1 1 1 — — — 3")
    assert "nan" not in page.body.lower().split() and "None" not in page.body

    dom, page = rendered(email)
    assert dom.count('class="notice"') == 1
    assert "«Опять нет сертификатов <по заказу 0>»" in page.body  # escaped, shown as written
    assert "nan" not in page.body.lower().split() and "None" not in page.body
