"""A task run by dag.test() leaves its log file where Airflow's UI reads it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cx_airflow.task_logs import task_log

pytestmark = pytest.mark.airflow

RELATIVE = "dag_id=d/run_id=r/task_id=t/attempt=1.log"


def test_printed_lines_and_log_records_land_in_the_task_log_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow.utils.log.file_task_handler import StructuredLogMessage

    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path))
    root_level = logging.getLogger().level
    with task_log(RELATIVE):
        print("survey dispatch at 2026-12-06: 12 events\n  skipped opted_out  3")
        logging.getLogger("cx_tasks.test").info("quarantined %d rows", 2)
        logging.getLogger("cx_tasks.test").debug("below INFO: not kept")
    print("after the task: not in its log")
    lines = (tmp_path / RELATIVE).read_text().splitlines()
    events = [StructuredLogMessage.model_validate_json(line) for line in lines]
    assert [(e.event, e.logger) for e in events] == [  # type: ignore[attr-defined]
        ("survey dispatch at 2026-12-06: 12 events", "task.stdout"),
        ("  skipped opted_out  3", "task.stdout"),
        ("quarantined 2 rows", "cx_tasks.test")]
    assert all(e.timestamp is not None for e in events)
    assert json.loads(lines[0])["chan"] == "stdout"
    assert logging.getLogger().level == root_level
