"""The 0-10 row of an NPS invitation fits a 375 px phone (issue 14, section 5): headless
Chromium shows the invitation e-mail's HTML at 375 x 812 CSS pixels (mobile), a screenshot
is kept, and every one of the 11 score links lies inside the viewport, with nothing to
scroll sideways.

Needs Debian's ``chromium`` and ``chromedriver``; skips without them, except in CI
(``CI=true``), where their absence fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fixtures.chromium import headless_chromium

from cx_tasks.config import Settings
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.invitations import invitation_mail

PHONE = {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True}
"""An iPhone X-class screen in CSS pixels."""


@pytest.fixture()
def phone() -> Iterator[object]:
    with headless_chromium("--hide-scrollbars") as driver:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
        yield driver


@pytest.mark.parametrize("language", ["en", "ru"])
def test_all_eleven_nps_links_fit_a_375px_phone(phone, tmp_path: Path, language: str) -> None:
    catalogue = survey_catalogue()
    survey = catalogue.for_role("economic_buyer")
    assert catalogue.questions[survey.questions[0]].scale == (0, 10)
    config = Settings(data_dir=tmp_path, warehouse_url="", source_url="", rules_dir=None,
                      survey_base_url="https://cx.example.com", survey_secret_text="phone")
    mail, _ = invitation_mail(
        {"invitation_id": "inv:relationship:K1:2026-11-01:C1", "contact_id": "C1",
         "survey_id": survey.id, "language": language,
         "full_name": "Константин Константинопольский", "client_name": "ООО «Сталь»",
         "order_id": None, "ref_id": None},
        catalogue, config, datetime(2026, 11, 1, 9))
    page = tmp_path / f"nps_{language}.html"
    page.write_text(mail.html or "", encoding="utf-8")
    phone.get(page.as_uri())
    shot = tmp_path / f"nps_{language}_375px.png"
    assert phone.save_screenshot(str(shot)) and shot.stat().st_size > 0
    width, height, scroll_width = phone.execute_script(
        "return [window.innerWidth, window.innerHeight, "
        "document.documentElement.scrollWidth];")
    assert (width, height) == (375, 812)
    boxes = phone.execute_script(
        "return [...document.querySelectorAll('a')]"
        ".filter(a => /^\\d+$/.test(a.textContent.trim()))"
        ".map(a => { const r = a.getBoundingClientRect();"
        " return [a.textContent.trim(), r.left, r.top, r.right, r.bottom]; });")
    assert [b[0] for b in boxes] == [str(s) for s in range(11)]
    outside = [b for b in boxes if b[1] < 0 or b[2] < 0 or b[3] > width or b[4] > height]
    assert outside == [], f"links outside the 375 px viewport (see {shot})"
    assert scroll_width <= width
