"""Survey link tokens: genuine ones verify, every kind of tampering is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cx_tasks.surveys.tokens import InvalidToken, TokenClaims, _b64, sign, verify

SECRET = b"k" * 32
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CLAIMS = TokenClaims(invitation_id="inv:e1:C1", contact_id="C1", survey_id="delivery",
                     purpose="answer", expires_at=int(NOW.timestamp()) + 60,
                     question_id="csat", score_min=1, score_max=5)


def test_a_genuine_token_gives_back_its_claims() -> None:
    assert verify(sign(CLAIMS, SECRET), SECRET, purpose="answer", now=NOW, score=5) == CLAIMS


@pytest.mark.parametrize("score, ok", [(0, False), (1, True), (5, True), (6, False)])
def test_the_score_must_lie_in_the_signed_range(score: int, ok: bool) -> None:
    token = sign(CLAIMS, SECRET)
    if ok:
        assert verify(token, SECRET, purpose="answer", now=NOW, score=score).accepts(score)
    else:
        with pytest.raises(InvalidToken, match="score"):
            verify(token, SECRET, purpose="answer", now=NOW, score=score)


def test_expiry_is_inclusive_of_its_last_second() -> None:
    token = sign(CLAIMS, SECRET)
    last = datetime.fromtimestamp(CLAIMS.expires_at, UTC)
    assert verify(token, SECRET, purpose="answer", now=last)
    with pytest.raises(InvalidToken, match="expired"):
        verify(token, SECRET, purpose="answer", now=last.replace(microsecond=1))


def test_altered_forged_foreign_and_malformed_tokens_are_refused() -> None:
    token = sign(CLAIMS, SECRET)
    payload, signature = token.split(".")
    other = sign(replace(CLAIMS, contact_id="C2"), SECRET).split(".")[0]
    cases = {
        "forged": [f"{other}.{signature}",                      # claims swapped, old signature
                   sign(CLAIMS, b"another secret"),             # signed with a foreign key
                   f"{payload}.{_b64(b'x' * 32)}"],
        "malformed": ["", "no-dot", f"{payload}.", f".{signature}"],
    }
    for reason, tokens in cases.items():
        for bad in tokens:
            with pytest.raises(InvalidToken) as caught:
                verify(bad, SECRET, purpose="answer", now=NOW)
            assert caught.value.reason == reason, bad


def test_a_token_only_serves_its_purpose() -> None:
    unsubscribe = sign(replace(CLAIMS, purpose="unsubscribe"), SECRET)
    with pytest.raises(InvalidToken, match="purpose"):
        verify(unsubscribe, SECRET, purpose="answer", now=NOW)
    assert verify(unsubscribe, SECRET, purpose="unsubscribe", now=NOW).contact_id == "C1"


def test_the_default_secret_is_made_once_and_readable_by_its_owner_only(tmp_path) -> None:
    from cx_tasks.config import settings

    config = settings({"CX_DATA_DIR": str(tmp_path)})
    first = config.survey_secret
    assert len(first) == 64 and config.survey_secret == first
    assert (tmp_path / "survey_secret").stat().st_mode & 0o777 == 0o600
    assert settings({"CX_DATA_DIR": str(tmp_path), "CX_SURVEY_SECRET": "s"}).survey_secret == b"s"


def test_score_links_carry_one_token_valid_for_the_first_questions_range() -> None:
    from cx_tasks.surveys.catalogue import survey_catalogue
    from cx_tasks.surveys.links import answer_token, score_links

    catalogue = survey_catalogue()
    survey = catalogue.for_event("delivery_completed")  # csat first: 1-5
    issued = datetime(2026, 11, 1)  # naive UTC
    token = answer_token("inv:e1:C1", "C1", survey, catalogue, issued, SECRET)
    links = score_links("https://cx.example.com", token, 1, 5)
    assert [score for score, _ in links] == [1, 2, 3, 4, 5]
    assert links[0][1] == f"https://cx.example.com/r/{token}?score=1"
    claims = verify(token, SECRET, purpose="answer", now=NOW, score=5)
    assert (claims.question_id, claims.score_min, claims.score_max) == ("csat", 1, 5)
    assert claims.expires_at == int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
