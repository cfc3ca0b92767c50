"""Masked text: phone numbers keep their last four digits, emails their first character and domain."""

from __future__ import annotations


def test_a_phone_number_shows_only_its_last_four_digits(classify):
    assert classify("我的电话13800138000，请回电").masked_text == "我的电话***8000，请回电"
    assert classify("call me at +1 (415) 555-0100 today").masked_text == "call me at ***0100 today"
    assert classify("手機 0912-345-678 找我").masked_text == "手機 ***5678 找我"


def test_an_email_address_shows_only_its_first_character_and_domain(classify):
    assert classify("邮箱jane.doe@example.com，谢谢").masked_text == "邮箱j***@example.com，谢谢"
    assert classify("write to jane.doe@example.com").masked_text == "write to j***@example.com"


def test_order_and_tracking_numbers_are_never_masked(classify):
    text = "订单号 13812345678，运单号 SF1234567890123，order number 415-555-0100"
    result = classify(text)
    assert result.masked_text == text
    assert result.entities.phone_numbers == []


def test_contact_details_next_to_order_numbers_are_masked(classify):
    result = classify("订单号 202311241234567，电话 13800138000，邮箱 a.b@example.com")
    assert result.masked_text == "订单号 202311241234567，电话 ***8000，邮箱 a***@example.com"


def test_entities_keep_the_values_as_found(classify):
    result = classify("电话13800138000 邮箱jane@example.com")
    assert result.entities.phone_numbers == ["13800138000"]
    assert result.entities.emails == ["jane@example.com"]


def test_the_subject_is_masked_too(classify):
    result = classify("see subject", subject="Call me back on 415-555-0100")
    assert result.masked_subject == "Call me back on ***0100"


def test_a_message_without_a_subject_has_no_masked_subject(classify):
    assert classify("hello").masked_subject is None


def test_text_without_contact_details_is_unchanged(classify):
    text = "我的快递三天了还没到，能帮我查一下吗？"
    assert classify(text).masked_text == text
