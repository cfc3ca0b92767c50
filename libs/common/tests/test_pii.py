import pytest

from switchboard_common.pii import mask_email, mask_handle, mask_phone, mask_text


def test_an_email_address_keeps_only_its_first_character_and_domain():
    assert mask_email("jane.doe@example.com") == "j***@example.com"


def test_a_phone_number_keeps_only_its_last_four_digits():
    assert mask_phone("+86 138 0013 8000") == "***8000"


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("call me on +86 138 0013 8000 please", "138 0013", "***8000"),
        ("我的手机13800138000", "13800138000", "***8000"),
        ("office (415) 555-0100", "555-0100", "***0100"),
        ("write to jane.doe@example.com today", "jane.doe", "j***@example.com"),
        ("台北 02-2345-6789", "2345", "***6789"),
    ],
)
def test_contact_details_in_free_text_are_masked(text, hidden, kept):
    masked = mask_text(text)
    assert hidden not in masked
    assert kept in masked


@pytest.mark.parametrize(
    "text",
    ["order 202311241234567 is late", "tracking SF1234567890123", "订单号 2023112412345678", "refund of 1299.00"],
)
def test_order_and_tracking_numbers_are_not_mistaken_for_phone_numbers(text):
    assert mask_text(text) == text


def test_opaque_channel_handles_are_kept_while_addresses_are_masked():
    assert mask_handle("U024BE7LH") == "U024BE7LH"
    assert mask_handle("customer@example.org") == "c***@example.org"
    assert mask_handle("+14155550100") == "***0100"


def test_an_email_written_right_after_chinese_text_is_masked():
    assert mask_text("邮箱jane@example.com谢谢") == "邮箱j***@example.com谢谢"
