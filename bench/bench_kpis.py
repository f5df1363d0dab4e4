"""Benchmark of the monitor stage: every KPI with its interval on a large history.

    .venv/bin/python bench/bench_kpis.py                # 6,000 clients x 18 months, 5 runs
    .venv/bin/python bench/bench_kpis.py --clients 300  # a smaller world

The answers come from the simulator's past-answer generator (``simulate.past_answers``:
relationship waves per contact, transactional answers per client and month) over a
synthetic CRM of ``--clients`` accounts with three contacts each, in three segments and
30 account managers; rates are set so 6,000 clients give about 150,000 answers. Each run
times ``monitor.history.recalculate``: the observations (NPS, CSAT, CES, CES 5-7, CSI per
response), every level (all, segment, manager, role, account, account x role) and period
(month, quarter, trailing 90 days) with n, 95% intervals clustered by account and the
changes tested, plus the version (definition hash and inputs fingerprint). Prints the
median and every run's seconds; the target is at most 10 s.

Then it renders 1,000 per-owner digests (``monitor.digests``: sections from the owner
builders, the Jinja templates, HTML and plain text) over findings spread across the
owners, 12 each, and prints the median of ``--runs`` runs; the target is at most 30 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from cx_tasks.monitor.digests import DigestData, DigestScope, render_digest, sections_of
from cx_tasks.monitor.history import KpiInputs, importance_table, recalculate
from cx_tasks.monitor.rules import monitor_rules
from cx_tasks.simulate.past_answers import past_answers
from cx_tasks.surveys.catalogue import survey_catalogue

ROLES = ("economic_buyer", "technical_buyer", "operator")
SEGMENTS = ("metals", "chemicals", "distribution")
END = date(2026, 11, 1)


def world(clients: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                                 pd.DataFrame]:
    """Contacts, true satisfaction per role, true factor scores and the ERP accounts."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:05d}" for i in range(1, clients + 1)]
    contacts = pd.DataFrame([(f"{c}-{r}", c, r, f"{r}@{c.lower()}.example")
                             for c in ids for r in ROLES],
                            columns=["contact_id", "client_id", "role", "email"])
    roles = pd.DataFrame([(c, r, float(rng.normal(70, 15))) for c in ids for r in ROLES],
                         columns=["client_id", "role", "satisfaction"])
    factors = pd.DataFrame(rng.normal(70, 15, (clients, 2)).clip(0, 100),
                           columns=["availability", "meeting_specifications"], index=ids)
    accounts = pd.DataFrame({"client_id": ids,
                             "segment": [SEGMENTS[i % 3] for i in range(clients)],
                             "account_manager": [f"manager {i % 30:02d}"
                                                 for i in range(clients)]})
    return contacts, roles, factors, accounts


def answers_for(clients: int) -> pd.DataFrame:
    """The answers frame ``recalculate`` reads (as ``monitor.answers.answers_known`` gives)."""
    contacts, roles, factors, accounts = world(clients)
    layout = past_answers(contacts, roles, factors, survey_catalogue(), end=END, months=18,
                          relationship_rate=0.4, transactional_per_month=0.16, bad_share=0)
    by_email = contacts.set_index("email")["contact_id"]
    contact = layout["contact"].map(by_email).fillna(layout["contact"])
    role = contact.map(contacts.set_index("contact_id")["role"])
    frame = pd.DataFrame({
        "response": contact + "|" + layout["survey_kind"] + "|" + layout["answered_at"],
        "client_id": layout["client"], "contact_id": contact, "role": role,
        "survey_kind": layout["survey_kind"], "question": layout["question"],
        "score": layout["score"].astype(int), "comment": layout["comment"],
        "answered_at": pd.to_datetime(layout["answered_at"])})
    return frame.merge(accounts, on="client_id", how="left")


def owner_digests(owners: int, per_owner: int = 12) -> tuple[DigestData, list[DigestScope]]:
    """Digest data with ``per_owner`` findings for each of ``owners`` owners, and their
    scopes."""
    from datetime import datetime, timedelta

    n = owners * per_owner
    found = pd.DataFrame({
        "finding_id": [f"f{i}" for i in range(n)], "kind": "role_gap",
        "client_id": [f"C{i % 6000:05d}" for i in range(n)], "segment": "metals",
        "process_class": None, "factor": None, "metric": None,
        "summary": [f"Client C{i % 6000:05d}: the technical buyer is satisfied, the operator "
                    "is not" for i in range(n)],
        "owner": [f"owner{i % owners:04d}" for i in range(n)], "owner_person": None,
        "found_on": date(2026, 10, 1),
        "due_on": [date(2026, 10, 1) + timedelta(days=i % 60) for i in range(n)]})
    data = DigestData(start=datetime(2026, 10, 26, 5), end=datetime(2026, 11, 2, 5),
                      findings=found)
    scopes = [DigestScope("owner", f"owner{i:04d}", f"Your CX findings (owner {i})",
                          (f"owner{i}@example.com",)) for i in range(owners)]
    return data, scopes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    answers = answers_for(args.clients)
    print(f"{args.clients:,} clients, {len(answers):,} answers "
          f"({answers['response'].nunique():,} responses) generated in "
          f"{time.perf_counter() - started:.1f} s")
    inputs = KpiInputs(monitor_rules().kpi, survey_catalogue(), importance_table())
    seconds, figures = [], 0
    for _ in range(args.runs):
        t = time.perf_counter()
        _, frame = recalculate(answers, END, inputs)
        seconds.append(time.perf_counter() - t)
        figures = len(frame)
    print(f"all KPIs with intervals: {figures:,} figures; median {statistics.median(seconds):.2f} s"
          f" over {args.runs} runs ({', '.join(f'{s:.2f}' for s in seconds)}); target <= 10 s")
    data, scopes = owner_digests(1000)
    seconds = []
    for _ in range(args.runs):
        fresh = replace(data)  # each run groups the findings by owner anew
        t = time.perf_counter()
        digests = [render_digest(fresh, scope, sections_of(fresh, scope)) for scope in scopes]
        seconds.append(time.perf_counter() - t)
    assert all(d.says_something for d in digests)
    print(f"1,000 per-owner digests rendered: median {statistics.median(seconds):.2f} s over "
          f"{args.runs} runs ({', '.join(f'{s:.2f}' for s in seconds)}); target <= 30 s")


if __name__ == "__main__":
    main()
