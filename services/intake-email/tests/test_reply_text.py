"""The text that is classified is what the customer wrote this time."""

from __future__ import annotations

from switchboard_intake_email.reply_text import strip_quoted_reply


def test_a_gmail_style_reply_keeps_only_the_new_words():
    text = (
        "The parcel still has not arrived.\n\nOn Mon, 23 Nov 2026 at 10:00, Support <s@shop.example> wrote:\n"
        "> We have received your message.\n> Case SB-7K3-M9Q-XDZ"
    )
    assert strip_quoted_reply(text) == "The parcel still has not arrived."


def test_an_attribution_line_wrapped_over_two_lines_is_recognised():
    text = "Thanks.\n\nOn Mon, 23 Nov 2026 at 10:00, Customer Support Team\n<support@shop.example> wrote:\n> old"
    assert strip_quoted_reply(text) == "Thanks."


def test_an_outlook_header_block_starts_the_quote():
    text = (
        "Please cancel it.\n\n________________________________\n"
        "From: Support\nSent: Monday\nTo: Jane\nSubject: Re: order\n\nold text"
    )
    assert strip_quoted_reply(text) == "Please cancel it."


def test_an_outlook_block_without_a_rule_starts_the_quote():
    text = (
        "Please cancel it.\n\nFrom: Support <s@shop.example>\n"
        "Sent: Monday, 23 November 2026 10:00\nTo: Jane\nSubject: order"
    )
    assert strip_quoted_reply(text) == "Please cancel it."


def test_original_message_separators_start_the_quote():
    assert strip_quoted_reply("New.\n-----Original Message-----\nold") == "New."
    assert strip_quoted_reply("新的问题\n------------------ 原始邮件 ------------------\n发件人: x") == "新的问题"


def test_chinese_attribution_lines_start_the_quote():
    assert strip_quoted_reply("还没收到\n\n在 2026年11月23日 10:00，客服 写道：\n> 已收到") == "还没收到"
    assert strip_quoted_reply("仍未收到\n\n客服 <s@shop.example> 於 2026年11月23日 週一 寫道：\n> 已收到") == "仍未收到"
    assert (
        strip_quoted_reply("发件人: 客服\n发送时间: 2026年11月23日\n收件人: 我\n主题: 回复")
        == "发件人: 客服\n发送时间: 2026年11月23日\n收件人: 我\n主题: 回复"
    ), "a message that is only a quote keeps its full text"


def test_the_signature_delimiter_ends_the_new_content():
    assert (
        strip_quoted_reply("My order 55 is late.\n-- \nJane Doe\nACME Ltd\n+1 415 555 0100") == "My order 55 is late."
    )


def test_mobile_signatures_end_the_new_content():
    assert strip_quoted_reply("Refund please.\n\nSent from my iPhone") == "Refund please."
    assert strip_quoted_reply("请退款\n\n发自我的iPhone") == "请退款"


def test_answers_written_between_quoted_lines_are_kept():
    text = "> Which order?\nOrder 12.\n> Which colour?\nBlue."
    assert strip_quoted_reply(text) == "Order 12.\nBlue."


def test_a_sentence_that_mentions_writing_is_not_a_quote():
    text = "On Monday my son wrote to you about order 7 and nobody answered"
    assert strip_quoted_reply(text) == text


def test_a_reply_that_is_only_a_quote_keeps_the_full_text():
    assert strip_quoted_reply("> only quoted") == "> only quoted"
