import pytest

from switchboard_common.case_reference import (
    IntakePosition,
    InvalidCaseReference,
    case_reference,
    find_case_references,
    normalise_case_reference,
    parse_case_reference,
)


@pytest.mark.parametrize(
    ("partition", "offset"),
    [(0, 0), (0, 1), (1, 0), (11, 123_456), (1023, 1_000_000_000), (3, 2_000_000_000), (7, 10**14)],
)
def test_a_reference_decodes_back_to_the_intake_position_it_came_from(partition, offset):
    position = IntakePosition(partition, offset)
    assert parse_case_reference(case_reference(position)) == position


def test_neighbouring_positions_give_references_that_share_no_obvious_pattern():
    first, second = case_reference(IntakePosition(0, 1000)), case_reference(IntakePosition(0, 1001))
    differing = sum(a != b for a, b in zip(first, second, strict=True))
    assert differing >= 4


def test_references_are_unique_over_many_positions():
    references = {case_reference(IntakePosition(p, o)) for p in range(6) for o in range(5000)}
    assert len(references) == 6 * 5000


def test_a_reference_reads_in_groups_after_the_prefix():
    reference = case_reference(IntakePosition(2, 99))
    assert reference.startswith("SB-")
    assert [len(group) for group in reference.split("-")[1:]] == [3, 3, 3]


def test_customers_may_type_it_in_lower_case_with_spaces_and_look_alike_letters():
    reference = case_reference(IntakePosition(4, 777))
    typed = reference.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert normalise_case_reference(typed) == reference


def test_a_mistyped_reference_is_rejected_by_its_check_symbol():
    reference = case_reference(IntakePosition(4, 777))
    body = reference[3]
    wrong = reference[:3] + ("X" if body != "X" else "Y") + reference[4:]
    with pytest.raises(InvalidCaseReference):
        parse_case_reference(wrong)


@pytest.mark.parametrize("text", ["", "SB", "SB-123", "AB-78T-JAF-TKG", "SB-78T-JAF-TK!"])
def test_malformed_references_are_rejected(text):
    with pytest.raises(InvalidCaseReference):
        parse_case_reference(text)


def test_references_quoted_in_free_text_are_found_in_order_without_repeats():
    first, second = case_reference(IntakePosition(2, 99)), case_reference(IntakePosition(4, 10**10))
    text = f"Re: {first} — see also {second.lower()} and again {first}."
    assert find_case_references(text) == [first, second]


def test_a_reference_inside_chinese_text_is_found():
    reference = case_reference(IntakePosition(1, 5))
    assert find_case_references(f"我的工单号是{reference}，请尽快处理") == [reference]


def test_random_text_that_looks_like_a_reference_is_not_taken_for_one():
    assert find_case_references("SB-ABC-DEF-GHJ and sb 123 456 789") == []


@pytest.mark.parametrize(
    ("partition", "offset", "reference"),
    [
        (0, 0, "SB-78T-JAF-TKG"),
        (5, 12345, "SB-XEX-5NC-Z8E"),
        (1023, 10**9, "SB-1GH-ZQD-FMT"),
        (3, 2**40, "SB-Y94R-6H0F-TRET-4"),
    ],
)
def test_references_already_given_to_customers_never_change(partition, offset, reference):
    assert case_reference(IntakePosition(partition, offset)) == reference
    assert parse_case_reference(reference) == IntakePosition(partition, offset)
