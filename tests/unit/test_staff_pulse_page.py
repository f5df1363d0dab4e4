"""A staff member answers the quarterly pulse by one click in the response app: a GET
(a link scanner) stores nothing, the POST stores the answer under the person and quarter,
a later click replaces it; a forged link or a score outside 1-5 stores nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cx_tasks.adjust.pulse import pulse_link
from cx_tasks.config import Settings, settings
from cx_tasks.surveys.app import create_app
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import staff_pulse_answers

SECRET = "s" * 32
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # the app checks expiry by wall clock
QUARTER = date(NOW.year, (NOW.month - 1) // 3 * 3 + 1, 1)


@pytest.fixture()
def config(tmp_path: Path) -> Settings:
    config = settings({"CX_DATA_DIR": str(tmp_path), "CX_SURVEY_SECRET": SECRET,
                       "CX_SURVEY_BASE_URL": "http://testserver"})
    migrate(engine_for(config.warehouse_url))
    yield config
    engine_for(config.warehouse_url).dispose()


def _link(config: Settings, score: int, secret: bytes | None = None) -> str:
    url = pulse_link(config.survey_base_url, secret or config.survey_secret, "AM1", QUARTER,
                     score, NOW + timedelta(days=30))
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _stored(config: Settings) -> list[tuple]:
    with engine_for(config.warehouse_url).connect() as conn:
        return [tuple(r) for r in conn.execute(select(
            staff_pulse_answers.c.staff_id, staff_pulse_answers.c.quarter,
            staff_pulse_answers.c.score, staff_pulse_answers.c.channel))]


def test_a_click_confirmed_stores_the_answer_and_a_later_one_replaces_it(config):
    client = TestClient(create_app(config))
    page = client.get(_link(config, 2))
    assert page.status_code == 200 and "Your answer" in page.text
    assert _stored(config) == []  # a GET changes nothing
    assert 'data-result="changed"' in client.post(_link(config, 2)).text
    assert _stored(config) == [("AM1", QUARTER, 2, "link")]
    client.post(_link(config, 4))
    assert _stored(config) == [("AM1", QUARTER, 4, "link")]


def test_a_forged_link_or_a_score_out_of_range_stores_nothing(config):
    client = TestClient(create_app(config))
    forged = _link(config, 3, secret=b"x" * 32)
    assert client.post(forged).status_code >= 400
    good = _link(config, 3)
    assert client.post(good.replace("score=3", "score=9")).status_code >= 400
    assert _stored(config) == []


def test_the_page_speaks_the_persons_language(config):
    from cx_tasks.warehouse.schema import STAGING

    client = TestClient(create_app(config))
    assert "Your answer" in client.get(_link(config, 3)).text  # not in hr_staff: English
    with engine_for(config.warehouse_url).begin() as conn:
        conn.execute(STAGING["hr_staff"].insert().values(
            staff_id="AM1", language="ru", interval_start=datetime(2026, 1, 1)))
    page = client.get(_link(config, 3))
    assert "Ваш ответ" in page.text and "Как вы оцениваете свою работу" in page.text
    assert "Спасибо: ваш ответ записан." in client.post(_link(config, 3)).text
    assert _stored(config) == [("AM1", QUARTER, 3, "link")]
