"""Priority: urgent when safety, money or data is at risk or a business stopped; raised by urgency and anger."""

from __future__ import annotations

import pytest

from switchboard_common.events.models import MessageType, Priority

AT_RISK = [
    ("safety", "电暖器用着用着冒烟了，还有烧焦的味道"),
    ("safety", "電暖器用一用突然冒煙，還有燒焦的味道"),
    ("safety", "The charger sparked and caught fire on my desk"),
    ("money", "我的信用卡被盗刷了三笔，不是我本人消费的"),
    ("money", "我的信用卡被盜刷了，不是我本人消費的"),
    ("money", "There is an unauthorized charge on my card from your store"),
    ("data", "我的账号被盗了，收货地址和手机号都被改了"),
    ("data", "我的帳號被盜了，個人資料都被改了"),
    ("data", "My account was hacked and someone changed my delivery address"),
    ("business_stopped", "系统瘫痪了，我们店铺现在无法营业"),
    ("business_stopped", "系統癱瘓，我們門市現在沒辦法營業"),
    ("business_stopped", "Our store is down and the POS cannot take orders"),
]


@pytest.mark.parametrize(("reason", "text"), AT_RISK, ids=[f"{r}-{i}" for i, (r, _) in enumerate(AT_RISK)])
def test_a_customer_at_risk_is_urgent(classify, reason, text):
    result = classify(text)
    assert result.priority is Priority.URGENT
    assert any(e.startswith(f"urgent:{reason}:") for e in result.evidence)


@pytest.mark.parametrize(
    "text",
    ["建议你们增加夜间模式", "建議你們增加深色模式", "I suggest you add a dark mode to the app"],
)
def test_suggestions_are_low_priority(classify, text):
    result = classify(text)
    assert result.type is MessageType.SUGGESTION
    assert result.priority is Priority.LOW


def test_a_plain_inquiry_is_low_and_a_fault_report_is_normal(classify):
    assert classify("请问这款耳机支持蓝牙吗？").priority is Priority.LOW
    assert classify("买的耳机坏了，左边没声音").priority is Priority.NORMAL


@pytest.mark.parametrize(
    ("calm", "pressed"),
    [
        ("请问发票什么时候能开好？", "请问发票什么时候能开好？很急"),
        ("請問發票什麼時候能開好？", "請問發票什麼時候能開好？麻煩盡快"),
        ("When will my invoice be ready?", "When will my invoice be ready? It is urgent"),
    ],
)
def test_saying_it_is_urgent_raises_priority_one_level(classify, calm, pressed):
    before, after = classify(calm), classify(pressed)
    assert (before.priority, after.priority) == (Priority.LOW, Priority.NORMAL)
    assert after.sentiment.stated_urgency


def test_saying_it_is_not_urgent_does_not_raise_priority(classify):
    result = classify("请问发票什么时候能开好？不急")
    assert result.priority is Priority.LOW
    assert not result.sentiment.stated_urgency


@pytest.mark.parametrize(
    ("calm", "angry"),
    [
        ("我要投诉，客服态度太差了", "我要投诉，客服态度太差了，垃圾公司，气死我了"),
        ("我要投訴，客服態度太差了", "我要投訴，客服態度太差了，一群騙子，氣死我了"),
        ("I want to complain about your agent", "I want to complain about your agent, this is ridiculous!!!"),
        ("I want to complain about your agent", "I WANT TO COMPLAIN ABOUT YOUR AGENT, HE WAS RUDE!!!"),
    ],
)
def test_anger_raises_priority_one_level(classify, calm, angry):
    before, after = classify(calm), classify(angry)
    assert (before.priority, after.priority) == (Priority.NORMAL, Priority.URGENT)
    assert after.sentiment.anger
    assert not before.sentiment.anger
    assert after.sentiment.score < 0


def test_exclamation_marks_alone_are_not_anger(classify):
    assert not classify("Thank you so much, it works now!!!").sentiment.anger


def test_urgency_and_anger_together_raise_a_low_message_to_urgent(classify):
    assert classify("发票到底什么时候开？急！垃圾客服").priority is Priority.URGENT


def test_non_actionable_messages_stay_low_whatever_they_shout(classify):
    result = classify("URGENT!!! CONGRATULATIONS YOU HAVE WON, CLICK HERE TO CLAIM YOUR PRIZE")
    assert result.type is MessageType.NON_ACTIONABLE
    assert result.priority is Priority.LOW


def test_a_satisfied_customer_has_positive_sentiment(classify):
    result = classify("谢谢你们，客服很专业，问题解决了，非常满意")
    assert result.sentiment.score > 0
    assert not result.sentiment.anger
