"""The demo's funnel check: every stage of the loop must have produced enough.

A demo that exits 0 has shown the whole loop. Each stage contributes :class:`FunnelLine`
rows (what it produced, and the least it must produce on the demo's data); the demo
prints them all and fails, naming every stage that fell short, when any did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FunnelLine:
    """One stage's output in the demo: ``count`` produced, at least ``minimum`` required."""

    stage: str
    count: int
    minimum: int
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.count >= self.minimum


class FunnelBroken(RuntimeError):
    """A stage of the demo's loop produced nothing, or too little."""

    def __init__(self, failed: list[FunnelLine]) -> None:
        self.failed = failed
        super().__init__("the loop is broken at: " + "; ".join(
            f"{line.stage} ({line.count}, at least {line.minimum} expected)"
            for line in failed))


def shortfalls(lines: Iterable[FunnelLine]) -> list[FunnelLine]:
    """The lines whose stage produced less than its minimum, in funnel order."""
    return [line for line in lines if not line.passed]


def check(lines: Iterable[FunnelLine]) -> None:
    """Raise :class:`FunnelBroken` naming every stage that fell short."""
    failed = shortfalls(lines)
    if failed:
        raise FunnelBroken(failed)
