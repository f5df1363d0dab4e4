"""Task log files for ``dag.test()`` runs, where the UI looks for them.

Under a scheduler, each task runs in a child process whose supervisor writes the task's log
(its ``logging`` records and every line it prints) as JSON lines to
``<base_log_folder>/<log_filename_template>``, and the UI reads that file. ``dag.test()``
runs tasks in its own process without a supervisor, so no file is written and the UI says
"Log file not found". :func:`write_task_logs` wraps the in-process task runner so that each
task instance gets that file, in that format: its stdlib log records at INFO and above, and
its printed lines (``chan`` stdout), e.g. the survey dispatch's skip counts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from typing import IO, Any

LOGGER = "task"
log = logging.getLogger(__name__)


class _JsonLines:
    """One task's log file: JSON events with ``timestamp``, ``level``, ``event``, ``logger``."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file

    def write_event(self, level: str, event: str, logger: str, **extra: Any) -> None:
        record = {"timestamp": datetime.now(UTC).isoformat(), "level": level, "event": event,
                  "logger": logger, **extra}
        self.file.write(json.dumps(record, default=str) + "\n")
        self.file.flush()


class _Records(logging.Handler):
    """Stdlib log records into the task's log file."""

    def __init__(self, lines: _JsonLines) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        extra = {"error_detail": self.format(record)} if record.exc_info else {}
        self.lines.write_event(record.levelname.lower(), record.getMessage(), record.name,
                               **extra)


class _Printed:
    """A text stream whose lines become ``chan: stdout`` events of the task's log."""

    def __init__(self, lines: _JsonLines) -> None:
        self.lines = lines
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *complete, self.pending = self.pending.split("\n")
        for line in complete:
            self.lines.write_event("info", line, f"{LOGGER}.stdout", chan="stdout")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.write("\n")


@contextmanager
def task_log(relative_path: str) -> Iterator[None]:
    """While the block runs, the process's log records (INFO and above) and printed lines
    go to the task log file ``relative_path`` (under ``[logging] base_log_folder``)."""
    from airflow.sdk.log import init_log_file

    root = logging.getLogger()
    level = root.level
    with init_log_file(relative_path).open("a", encoding="utf-8") as file:
        lines = _JsonLines(file)
        handler = _Records(lines)
        printed = _Printed(lines)
        root.addHandler(handler)
        root.setLevel(min(level, logging.INFO) if level else logging.INFO)
        try:
            with redirect_stdout(printed):  # type: ignore[type-var]
                yield
        finally:
            printed.flush()
            root.removeHandler(handler)
            root.setLevel(level)


def write_task_logs() -> None:
    """Make every task that ``dag.test()`` runs in this process write its log file."""
    from airflow.sdk.execution_time import supervisor
    from airflow.utils.helpers import log_filename_template_renderer

    run_in_process = supervisor.run_task_in_process
    render = log_filename_template_renderer()

    def run_task_in_process(ti: Any, task: Any, client: Any = None) -> Any:
        with task_log(render(ti=ti, try_number=ti.try_number)):
            result = run_in_process(ti, task, client)
            log.info("Task instance finished: %s", result.state)
            return result

    supervisor.run_task_in_process = run_task_in_process
