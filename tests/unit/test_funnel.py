"""The funnel check names every stage that produced too little."""

from __future__ import annotations

import pytest

from cx_tasks.demo.funnel import FunnelBroken, FunnelLine, check, shortfalls


def test_a_stage_below_its_minimum_is_named_and_the_others_are_not() -> None:
    lines = [FunnelLine("invitations sent", 505, 1),
             FunnelLine("answers stored", 0, 101, "at least 20% of 505 invitations"),
             FunnelLine("acknowledgements accepted", 0, 1)]
    assert [line.stage for line in shortfalls(lines)] == ["answers stored",
                                                            "acknowledgements accepted"]
    with pytest.raises(FunnelBroken, match=r"answers stored \(0, at least 101 expected\)"):
        check(lines)


def test_exactly_the_minimum_passes() -> None:
    check([FunnelLine("answers stored", 101, 101)])
