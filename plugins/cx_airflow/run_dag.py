"""Run a DAG over consecutive data intervals in this process, without a scheduler.

    python -m cx_airflow.run_dag cx_collect_nightly --first 2026-10-18 --last 2026-10-31 \
        [--history-from 2026-05-05] [--then cx_survey_dispatch ...]
    python -m cx_airflow.run_dag cx_feedback --once [--at 2026-11-01T18:00:00]
    python -m cx_airflow.run_dag cx_implement --once [--at 2026-12-08T10:00:00] [--conf '{...}']

Each interval is one ``dag.test()`` run (real task instances, real XCom, real Asset
events in the metadata DB). With ``--history-from`` the first run is a history load
that extracts everything from that date up to the end of its own interval. ``--then``
runs each named DAG after every interval at the interval's end, standing in for the
scheduler that would start them on the Assets the interval updated (``dag.test()`` does
not; those runs see no ``triggering_asset_events``). ``--once`` runs the DAG once, now (or
``--at`` a given moment: its ``run_after``); ``--conf`` is the run's conf (JSON).

Each run happens on the process clock moved to the run's own time (``time-machine``,
ticking): an interval's run at its logical date, when the scheduler would have started it,
a ``--once`` run at ``--at``. So a run's start and end dates (and every task's) are those of
a run that took seconds at its time, as the UI shows them, instead of a run that "lasted"
from its logical date to the wall clock; and whatever a task stamps with the clock (the
outbox's ``sent_at``) agrees with the run's time.
The environment chooses Airflow's home, DAG folder and connections, as for ``airflow``.
Prints one line per run: ``RUN <dag id> <logical date> <state> <seconds>``; each task's log
goes to its file under Airflow's log folder, where the UI reads it (``cx_airflow.task_logs``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _clock_at(moment: datetime | None) -> AbstractContextManager[object]:
    """The process clock moved to ``moment`` and ticking from there (unchanged for None)."""
    if moment is None:
        return nullcontext()
    import time_machine

    return time_machine.travel(moment, tick=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id")
    parser.add_argument("--first", type=_day, help="first interval's end day")
    parser.add_argument("--last", type=_day, help="last interval's end day")
    parser.add_argument("--history-from", default="", help="history load start (YYYY-MM-DD)")
    parser.add_argument("--then", action="append", default=[], metavar="DAG_ID",
                        help="a DAG to run after every interval, at its end")
    parser.add_argument("--once", action="store_true", help="one run of the DAG, now")
    parser.add_argument("--at", type=datetime.fromisoformat, default=None,
                        help="with --once: the run's time (ISO 8601, UTC), default now")
    parser.add_argument("--conf", type=json.loads, default={}, help="with --once: run conf")
    args = parser.parse_args(argv)
    if not args.once and (args.first is None or args.last is None):
        parser.error("--first and --last are needed unless --once")
    # dag.test() talks to Airflow's execution API through starlette's TestClient, which
    # warns about its own httpx use on every run: not ours to act on.
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")

    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.utils import db
    from airflow.utils.state import DagRunState

    from cx_airflow.task_logs import write_task_logs

    db.initdb()
    write_task_logs()
    bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
    if bag.import_errors:
        print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
        return 1
    def run(dag_id: str, logical_date: datetime | None, conf_: dict[str, str],
            at: datetime | None = None) -> bool:
        started = time.perf_counter()
        with _clock_at(at or logical_date):
            outcome = bag.get_dag(dag_id).test(logical_date=logical_date, run_conf=conf_)
        moment = (logical_date or outcome.logical_date or outcome.run_after).isoformat()
        print(f"RUN {dag_id} {moment} {outcome.state} {time.perf_counter() - started:.1f}",
              flush=True)
        return outcome.state == DagRunState.SUCCESS

    if args.once:
        at = args.at.replace(tzinfo=args.at.tzinfo or UTC) if args.at else None
        return 0 if run(args.dag_id, None, args.conf, at) else 1
    timetable = coerce_to_core_timetable(bag.get_dag(args.dag_id).timetable)
    failed = 0
    day = args.first
    while day <= args.last:
        # dag.test takes the logical date as "run after": the interval that ends at the
        # last tick on or before it; the tick inside `day` ends the interval we want.
        late_in_day = day + timedelta(hours=23, minutes=59)
        end = timetable.infer_manual_data_interval(run_after=late_in_day).end
        history = day == args.first and args.history_from
        failed += not run(args.dag_id, end, {"history_from": args.history_from} if history else {})
        failed += sum(not run(then, end, {}) for then in args.then)
        day += timedelta(days=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
