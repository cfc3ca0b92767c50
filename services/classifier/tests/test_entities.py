"""Entities: order numbers, tracking numbers, amounts with currency, phone numbers, emails."""

from __future__ import annotations

from decimal import Decimal

import pytest

from switchboard_classifier.entities import extract_entities, merge
from switchboard_common.events.models import Entities


def entities(text: str, yuan: str = "CNY") -> Entities:
    return merge(extract_entities(text, yuan_currency=yuan))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("订单号 202311241234567 还没发货", "202311241234567"),
        ("订单号：202311241234567", "202311241234567"),
        ("我的订单202311241234567怎么还没到", "202311241234567"),
        ("訂單編號：TW20231124001，請幫我查詢", "TW20231124001"),
        ("Hi, my order #A123-4567 has not arrived", "A123-4567"),
        ("Order number: 88812345", "88812345"),
        ("order id is ORD-2023-000123", "ORD-2023-000123"),
    ],
)
def test_order_numbers_are_found_after_what_introduces_them(text, expected):
    assert entities(text).order_numbers == [expected]


def test_words_and_short_numbers_after_order_are_not_order_numbers():
    assert entities("I ordered 2 items; my order from yesterday, border 12345").order_numbers == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("顺丰单号SF1234567890123一直没更新", "SF1234567890123"),
        ("UPS tracking 1Z999AA10123456784 shows delivered", "1Z999AA10123456784"),
        ("圆通 YT1234567890123 到哪了", "YT1234567890123"),
        ("EMS RR123456789CN 卡在海关", "RR123456789CN"),
        ("运单号：78912345678901", "78912345678901"),
        ("tracking number is 9400100000000000000000", "9400100000000000000000"),
        ("運單號 JT0001234567890 還沒更新", "JT0001234567890"),
    ],
)
def test_tracking_numbers_are_found_by_carrier_format_or_what_introduces_them(text, expected):
    assert entities(text).tracking_numbers == [expected]


def test_an_order_number_is_not_a_tracking_number_and_the_reverse():
    found = entities("订单号 202311241234567，快递单号 SF1234567890123")
    assert found.order_numbers == ["202311241234567"]
    assert found.tracking_numbers == ["SF1234567890123"]


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("这台电脑 ¥1,299.00 买的", "1299.00", "CNY"),
        ("退我500元就行", "500", "CNY"),
        ("I paid $45.99 for it", "45.99", "USD"),
        ("押金 HK$300 還沒退", "300", "HKD"),
        ("我付了 NT$1,500", "1500", "TWD"),
        ("多扣了 RMB 800", "800", "CNY"),
        ("花了1500块", "1500", "CNY"),
        ("一共 1.5万元", "15000", "CNY"),
        ("it cost 20 euros", "20", "EUR"),
        ("退回港币 250", "250", "HKD"),
    ],
)
def test_amounts_are_found_with_their_currency(text, amount, currency):
    money = entities(text).amounts
    assert [(m.amount, m.currency) for m in money] == [(Decimal(amount), currency)]


def test_yuan_in_traditional_chinese_has_no_known_currency():
    # 元 is the renminbi in simplified Chinese, but NT dollars or HK dollars in traditional Chinese.
    assert [(m.amount, m.currency) for m in entities("退我500元", yuan="XXX").amounts] == [(Decimal(500), "XXX")]


def test_the_classifier_reads_yuan_by_the_message_language(classify):
    assert classify("麻烦退我500元，谢谢").entities.amounts[0].currency == "CNY"
    assert classify("麻煩退我500元，謝謝").entities.amounts[0].currency == "XXX"


def test_numbers_without_a_currency_are_not_amounts():
    assert entities("我买了3件，等了5天，订单号 202311241234567").amounts == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的电话13800138000，请回电", "13800138000"),
        ("电话 138-0013-8000", "138-0013-8000"),
        ("call me at +1 (415) 555-0100", "+1 (415) 555-0100"),
        ("手機 0912-345-678", "0912-345-678"),
        ("座机 021-6123-4567", "021-6123-4567"),
        ("请联系 +86 138 0013 8000", "+86 138 0013 8000"),
    ],
)
def test_phone_numbers_are_found_also_inside_chinese_text(text, expected):
    assert entities(text).phone_numbers == [expected]


def test_an_order_number_that_looks_like_a_phone_number_is_an_order_number():
    found = entities("订单号13812345678，电话13800138000")
    assert found.order_numbers == ["13812345678"]
    assert found.phone_numbers == ["13800138000"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my email is jane.doe@example.com.", "jane.doe@example.com"),
        ("邮箱jane@example.com，谢谢", "jane@example.com"),
        ("請寄到 wang.da-ming+shop@mail.example.com.tw", "wang.da-ming+shop@mail.example.com.tw"),
    ],
)
def test_email_addresses_are_found(text, expected):
    assert entities(text).emails == [expected]


def test_each_value_is_listed_once_in_order_of_appearance(classify):
    result = classify("订单号 1111122222 和订单号 3333344444，订单号 1111122222 重复了", subject="订单号 5555566666")
    assert result.entities.order_numbers == ["1111122222", "3333344444", "5555566666"]
