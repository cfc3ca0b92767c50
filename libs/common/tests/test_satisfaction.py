import pytest

from switchboard_common.case_reference import IntakePosition, case_reference
from switchboard_common.satisfaction import (
    RatingLink,
    parse_rating_payload,
    rating_in_text,
    rating_payload,
    sign_rating_link,
    verify_rating_link,
)

REFERENCE = case_reference(IntakePosition(2, 99))


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("4", 4),
        ("４", 4),
        (" 5 ", 5),
        ("5分", 5),
        ("五星", 5),
        ("四分", 4),
        ("★★★★", 4),
        ("★★★☆☆", 3),
        ("⭐⭐", 2),
        ("3/5", 3),
        ("5 stars", 5),
        ("1!", 1),
        ("兩星", 2),
    ],
)
def test_a_message_that_is_only_a_rating_is_recognised(text, score):
    assert rating_in_text(text) == score


@pytest.mark.parametrize("text", ["0", "6", "45", "I give you 5", "五", "好", "", "order 4", "5 items please"])
def test_anything_more_than_a_rating_is_not_taken_for_one(text):
    assert rating_in_text(text) is None


def test_a_button_payload_round_trips_with_the_canonical_case_reference():
    answer = parse_rating_payload(rating_payload(REFERENCE, 4).lower())
    assert answer is not None
    assert (answer.case_reference, answer.score, answer.via) == (REFERENCE, 4, "button")


@pytest.mark.parametrize("value", [None, "", "hello", "sb-rating:SB-XXX:4", f"sb-rating:{REFERENCE}:9", "sb-rating::3"])
def test_values_that_are_not_rating_buttons_are_ignored(value):
    assert parse_rating_payload(value) is None


def test_a_signed_rating_link_verifies_and_a_tampered_or_expired_one_does_not():
    link = RatingLink(REFERENCE, "email_abc", 5, expires_at=2_000)
    token = sign_rating_link(b"secret", link)
    assert verify_rating_link(b"secret", token, now=1_000) == link
    assert verify_rating_link(b"other", token, now=1_000) is None
    assert verify_rating_link(b"secret", token, now=2_001) is None
    forged = (
        sign_rating_link(b"secret", RatingLink(REFERENCE, "email_abc", 1, 2_000)).split(".")[0]
        + "."
        + token.split(".")[1]
    )
    assert verify_rating_link(b"secret", forged, now=1_000) is None
    assert verify_rating_link(b"secret", "garbage", now=1_000) is None
