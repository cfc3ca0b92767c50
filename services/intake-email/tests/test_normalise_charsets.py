"""Every charset real mail uses becomes the right text, whatever the label says."""

from __future__ import annotations

import base64

from intake_email_samples import MAILBOX, NOW, big5_mail, encoded_word, gbk_mail, iso2022jp_mail, raw_mail

from switchboard_common.events.models import Language
from switchboard_intake_email.charsets import decode_bytes
from switchboard_intake_email.normalise import normalise_email


def normalise(raw: bytes):
    return normalise_email(raw, mailbox=MAILBOX, received_at=NOW)


def test_a_gbk_chinese_mail_is_read_with_its_subject_sender_and_body():
    event = normalise(gbk_mail())
    assert event.subject == "订单还没有发货"
    assert event.customer.display_name == "张伟"
    assert event.customer.handle == "zhang.wei@example.cn"
    assert "我的订单A123-4567已经付款三天了还没有发货" in event.text.plain
    assert event.language_hint is Language.ZH_HANS


def test_gb2312_labelled_text_with_characters_only_gbk_has_is_read_in_full():
    text = "朱镕基和陶喆的订单"  # 镕 and 喆 are outside GB2312
    raw = raw_mail(text.encode("gbk"), content_type="text/plain; charset=gb2312", transfer_encoding="8bit")
    assert normalise(raw).text.plain == text


def test_a_gb18030_mail_is_read():
    text = "退货地址：广东省深圳市 𠮷 号"
    raw = raw_mail(base64.encodebytes(text.encode("gb18030")), content_type="text/plain; charset=GB18030",
                   transfer_encoding="base64")  # fmt: skip
    assert normalise(raw).text.plain == text


def test_a_big5_traditional_chinese_mail_is_read():
    event = normalise(big5_mail())
    assert event.subject == "耳機維修申請"
    assert event.customer.display_name == "陳小明"
    assert "想申請維修" in event.text.plain
    assert event.language_hint is Language.ZH_HANT


def test_an_iso_2022_jp_mail_is_read():
    event = normalise(iso2022jp_mail())
    assert event.subject == "商品が届きません"
    assert event.customer.display_name == "山田太郎"
    assert "注文した商品がまだ届いていません" in event.text.plain


def test_an_unknown_charset_label_falls_back_to_what_the_bytes_are():
    raw = raw_mail("Lieferung für Bestellung 42 fehlt".encode(), content_type="text/plain; charset=x-unknown")
    assert normalise(raw).text.plain == "Lieferung für Bestellung 42 fehlt"


def test_a_charset_python_does_not_know_falls_back_instead_of_failing():
    raw = raw_mail("我的包裹在哪里".encode("gb18030"), content_type="text/plain; charset=x-made-up-charset")
    assert normalise(raw).text.plain == "我的包裹在哪里"


def test_utf8_text_mislabelled_as_latin1_is_read_as_utf8():
    raw = raw_mail("Café crème — order 77".encode(), content_type="text/plain; charset=iso-8859-1")
    assert normalise(raw).text.plain == "Café crème — order 77"


def test_windows_1252_quotes_labelled_latin1_are_read():
    raw = raw_mail("It\x92s broken \x93again\x94".encode("latin-1"), content_type="text/plain; charset=iso-8859-1")
    assert normalise(raw).text.plain == "It’s broken “again”"


def test_raw_utf8_bytes_in_headers_are_decoded():
    raw = raw_mail("body", subject="退款申请 refund", sender="李娜 <li.na@example.cn>")
    event = normalise(raw)
    assert event.subject == "退款申请 refund"
    assert event.customer.display_name == "李娜"


def test_raw_gbk_bytes_in_a_header_are_decoded_by_the_fallbacks():
    head = "Subject: 发票问题\r\nFrom: a@example.cn\r\nMessage-ID: <h@x>\r\n\r\nhi\r\n".encode("gbk")
    assert normalise(head).subject == "发票问题"


def test_text_that_fits_no_charset_is_kept_with_replacement_characters():
    text, codec = decode_bytes(b"abc \xff\xfe\xfd\x80 def", "utf-8", fallbacks=("utf-8",))
    assert text.startswith("abc ") and text.endswith(" def") and "\ufffd" in text
    assert codec == "utf-8"


def test_encoded_words_in_several_charsets_in_one_subject_are_all_decoded():
    subject = (
        f"{encoded_word('订单', 'gb2312')} {encoded_word('Bestellung ', 'iso-8859-1')}{encoded_word('注文', 'utf-8')}"
    )
    assert normalise(raw_mail("x", subject=subject)).subject == "订单Bestellung 注文"
