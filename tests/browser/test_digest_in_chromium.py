"""Digests as a person sees them: headless Chromium opens each kind of digest as saved (the
HTML file with its chart images beside it) in an 800-pixel-wide window and in a 360-pixel
phone-sized one. A digest fails when an image does not load, a table is wider than 800
pixels, or ``nan``/``None`` shows; one screenshot of each kind goes to docs/screenshots/.

Needs Debian's ``chromium`` and ``chromedriver``; skips without them, except in CI
(``CI=true``), where their absence fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.chromium import headless_chromium
from fixtures.digest_data import SCOPES, sample_data

from cx_tasks.monitor.digests import render_digest, save_digest, sections_of

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with headless_chromium("--allow-file-access-from-files") as driver:
        yield driver


BROKEN_IMAGES = ("return Array.from(document.images).filter("
                 "i => !i.complete || i.naturalWidth === 0).map(i => i.alt);")
WIDE_TABLES = ("return Array.from(document.querySelectorAll('table')).map("
               "t => t.getBoundingClientRect().width).filter(w => w > 800);")


def problems(driver: object) -> list[str]:
    """What a reader would see wrong on the open page."""
    found = [f"image not loaded: {alt}" for alt in driver.execute_script(BROKEN_IMAGES)]
    found += [f"table {w:.0f} px wide" for w in driver.execute_script(WIDE_TABLES)]
    text = driver.execute_script("return document.body.innerText;")
    found += [f"shows {m!r}" for m in re.findall(r"\b(?:nan|NaN|None)\b", text)]
    if driver.execute_script("return document.documentElement.scrollWidth;") > 800:
        found.append("the page scrolls sideways")
    return found


@pytest.mark.parametrize("kind", list(SCOPES))
def test_a_digest_reads_well_in_a_browser(chromium: object, kind: str, tmp_path: Path) -> None:
    data = sample_data()
    digest = render_digest(data, SCOPES[kind], sections_of(data, SCOPES[kind]))
    page = save_digest(digest, tmp_path)
    for width in (800, 360):
        chromium.set_window_size(width, 1200)
        chromium.get(page.as_uri())
        assert problems(chromium) == [], (kind, width)
    chromium.set_window_size(800, 1200)
    chromium.get(page.as_uri())
    height = chromium.execute_script("return document.documentElement.scrollHeight;")
    chromium.set_window_size(800, min(max(height + 120, 600), 4000))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chromium.save_screenshot(str(SCREENSHOTS / f"digest_{kind}.png"))


def test_the_check_fails_on_a_missing_image_a_wide_table_and_nan(chromium: object,
                                                                 tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="missing.png" alt="chart">'
                    '<table style="width:1200px"><tr><td>nan</td></tr></table></body></html>',
                    encoding="utf-8")
    chromium.set_window_size(800, 600)
    chromium.get(page.as_uri())
    found = problems(chromium)
    assert "image not loaded: chart" in found
    assert "table 1200 px wide" in found and "shows 'nan'" in found
