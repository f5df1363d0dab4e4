"""``cx review``: the manual review queue of feedback the classifier did not decide.

``list`` shows the queue (each text cut with ``…``), ``show`` one item whole: its text, the
classifier's evidence one reason a line, and the candidate classes it weighed, so that a
reviewer can ``label`` it (a complaint of a group and process class) or say it is
``no-complaint`` (praise or a question); ``refit`` fits the confidence table from the reviews
so far.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from cx_tasks.analyze.taxonomy import (
    DISSATISFACTION_GROUPS,
    NO_COMPLAINT_POLARITIES,
    PROCESS_CLASSES,
)
from cx_tasks.cli_format import MISSING, fail, frame_table, require, shorten, wall_clock, warehouse

app = typer.Typer(help="The manual review queue of feedback the classifier did not decide.",
                  no_args_is_help=True)
console = Console()

LIST_TEXT_CHARS = 70
"""How much of each text ``cx review list`` shows (``cx review show`` shows it all)."""
CANDIDATE = re.compile(rf"^({'|'.join(DISSATISFACTION_GROUPS)})/({'|'.join(PROCESS_CLASSES)})"
                       r" (\S+) <- ")
"""An evidence entry naming a candidate label: ``group/process_class score <- causes``."""


def evidence_lines(evidence: str) -> list[str]:
    """The classifier's evidence (``; ``-joined) one reason a line; a cause behind a
    candidate label is indented under it."""
    lines: list[str] = []
    under_label = False
    for part in evidence.split("; "):
        if CANDIDATE.match(part):
            under_label = True
            lines.append(part)
        elif under_label and re.match(r"^\w+: ", part) and not part.startswith("typo"):
            lines.append("    " + part)
        else:
            under_label = False
            lines.append(part)
    return lines


def candidate_classes(evidence: str) -> list[tuple[str, str, str]]:
    """The (group, process class, score) labels the classifier weighed, best first."""
    found = (CANDIDATE.match(part) for part in evidence.split("; "))
    return [(m[1], m[2], m[3]) for m in found if m]


@app.command("list")
def review_list(
    limit: Annotated[int, typer.Option(help="items shown")] = 20,
) -> None:
    """Feedback waiting for a person's label, oldest first, with the candidate classes the
    classifier weighed (the whole text and evidence: cx review show ID)."""
    import pandas as pd

    from cx_tasks.analyze.classification import review_queue
    from cx_tasks.config import settings

    with warehouse(settings()).connect() as conn:
        queue = review_queue(conn)
    console.print(f"{len(queue)} items wait for review (the whole of one: cx review show ID)")
    shown = queue.head(limit)
    console.print(frame_table(pd.DataFrame({
        "feedback_id": shown["feedback_id"], "confidence (0-1)": shown["confidence"],
        "text": shown["text"].fillna("").map(lambda t: shorten(t, LIST_TEXT_CHARS)),
        "candidate classes": shown["evidence"].map(
            lambda e: shorten(", ".join(f"{g}/{p}" for g, p, _ in candidate_classes(e))
                              or MISSING, LIST_TEXT_CHARS)),
    }), "review queue"))


@app.command("show")
def review_show(
    feedback_id: Annotated[str, typer.Argument(help="the item, e.g. ticket:TK0000001")],
) -> None:
    """One item whole: its text, the classifier's evidence and the candidate classes."""
    from cx_tasks.analyze.classification import review_queue
    from cx_tasks.analyze.reports import client_name
    from cx_tasks.config import settings

    with warehouse(settings()).connect() as conn:
        queue = review_queue(conn)
        items = queue[queue["feedback_id"] == feedback_id]
        if items.empty:
            require(feedback_id, queue["feedback_id"], "review item",
                    "cx review list shows the queue")
        item = items.iloc[0]
        client = client_name(conn, item["client_id"])
    console.print(Text(f"{feedback_id}: {item['source']} of {client} ({item['client_id']}), "
                       f"{item['occurred_at']:%Y-%m-%d %H:%M}, confidence "
                       f"{item['confidence']:.2f}", style="bold"))
    console.print(Text(item["text"] or MISSING))
    console.print("\n[bold]evidence[/bold]")
    for line in evidence_lines(item["evidence"]):
        console.print(Text("  " + line))
    console.print("\n[bold]candidate classes[/bold] (group / process class, score)")
    candidates = candidate_classes(item["evidence"])
    for group, process_class, score in candidates:
        console.print(Text(f"  {group} / {process_class}  {score}"))
    if not candidates:
        console.print("  none: no lexicon term and no operational signal")
    console.print(Text(f"\nlabel it: cx review label {feedback_id} GROUP PROCESS_CLASS "
                       f"--reviewer NAME\n  groups: {', '.join(DISSATISFACTION_GROUPS)}\n"
                       f"  process classes: {', '.join(PROCESS_CLASSES)}\n"
                       f"or, praise or a question: cx review no-complaint {feedback_id} "
                       f"{'|'.join(NO_COMPLAINT_POLARITIES)} [--process-class PROCESS_CLASS] "
                       "--reviewer NAME"))


@app.command("refit")
def review_refit() -> None:
    """Refit the classifier's confidence table from the people's reviews so far; prints the
    `confidence` block to put in classifier.yaml (in CX_RULES_DIR)."""
    import yaml

    from cx_tasks.analyze.classification import refit_confidence
    from cx_tasks.config import settings

    try:
        with warehouse(settings()).connect() as conn:
            # the CLI is the edge: a refit is labelled with the day a person ran it
            fitted = refit_confidence(conn, wall_clock().date())
    except ValueError as error:
        fail(str(error))
    print(yaml.safe_dump({"confidence": fitted.model_dump(mode="json")}, sort_keys=False,
                         width=100, default_flow_style=None, allow_unicode=True))


@app.command("label")
def review_label(
    feedback_id: Annotated[str, typer.Argument(help="the item, e.g. claim:CL-000123")],
    group: Annotated[str, typer.Argument(help=" | ".join(DISSATISFACTION_GROUPS))],
    process_class: Annotated[str, typer.Argument(help=" | ".join(PROCESS_CLASSES))],
    reviewer: Annotated[str, typer.Option(help="who decided")],
) -> None:
    """Label an item; the next cx_analyze run applies it (status reviewed)."""
    from cx_tasks.analyze.classification import record_review
    from cx_tasks.config import settings

    try:
        with warehouse(settings()).begin() as conn:
            # the CLI is the edge: a review is stamped with when the person made it
            record_review(conn, feedback_id, group, process_class, reviewer,
                          wall_clock().replace(tzinfo=None))
    except ValueError as error:
        fail(str(error))
    console.print(escape(f"{feedback_id}: {group} / {process_class} by {reviewer}"))


@app.command("no-complaint")
def review_no_complaint(
    feedback_id: Annotated[str, typer.Argument(help="the item, e.g. claim:CL-000123")],
    polarity: Annotated[str, typer.Argument(
        help="positive (praise) | neutral (a question, request or information)")],
    reviewer: Annotated[str, typer.Option(help="who decided")],
    process_class: Annotated[str | None, typer.Option(
        help="the process it speaks about (" + " | ".join(PROCESS_CLASSES)
        + "); left out: the classifier's")] = None,
) -> None:
    """Say an item is no complaint; the next cx_analyze run applies it (status
    no_complaint: no group, never counted as a complaint)."""
    from cx_tasks.analyze.classification import record_no_complaint
    from cx_tasks.config import settings

    try:
        with warehouse(settings()).begin() as conn:
            # the CLI is the edge: a review is stamped with when the person made it
            record_no_complaint(conn, feedback_id, polarity, process_class, reviewer,
                                wall_clock().replace(tzinfo=None))
    except ValueError as error:
        fail(str(error))
    console.print(escape(f"{feedback_id}: no complaint ({polarity}"
                         + (f", {process_class}" if process_class else "")
                         + f") by {reviewer}"))
