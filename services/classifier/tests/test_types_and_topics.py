"""Message type and topic in simplified Chinese, traditional Chinese and English."""

from __future__ import annotations

import pytest

from switchboard_common.events.models import Language, MessageTopic, MessageType

TYPE_EXAMPLES = [
    (MessageType.COMPLAINT, Language.ZH_HANS, "我要投诉你们的客服，态度太差了，问了三次都没人理"),
    (MessageType.COMPLAINT, Language.ZH_HANT, "我要投訴你們的客服，態度太差了，問了三次都沒人理"),
    (
        MessageType.COMPLAINT,
        Language.EN,
        "I want to file a complaint: your agent was rude and nobody replied to my emails",
    ),
    (MessageType.SUGGESTION, Language.ZH_HANS, "建议你们的App增加夜间模式，晚上用着比较舒服"),
    (MessageType.SUGGESTION, Language.ZH_HANT, "建議你們的App可以增加深色模式，晚上用比較不刺眼"),
    (MessageType.SUGGESTION, Language.EN, "It would be great if your app had a dark mode, just a suggestion"),
    (MessageType.FAULT, Language.ZH_HANS, "买的扫地机器人开不了机，充电也没反应"),
    (MessageType.FAULT, Language.ZH_HANT, "買的掃地機器人開不了機，充電也沒反應"),
    (MessageType.FAULT, Language.EN, "The blender stopped working after two days, it won't turn on at all"),
    (MessageType.INQUIRY, Language.ZH_HANS, "请问这款耳机支持蓝牙5.3吗？"),
    (MessageType.INQUIRY, Language.ZH_HANT, "請問這款耳機支援藍牙5.3嗎？"),
    (MessageType.INQUIRY, Language.EN, "Could you tell me whether this jacket is waterproof?"),
    (MessageType.NON_ACTIONABLE, Language.ZH_HANS, "恭喜您中奖了！点击链接领取免费手机"),
    (MessageType.NON_ACTIONABLE, Language.ZH_HANT, "自動回覆：我目前休假中，將於下週一回覆您的郵件"),
    (
        MessageType.NON_ACTIONABLE,
        Language.EN,
        "Delivery Status Notification (Failure): the message could not be delivered",
    ),
]

TOPIC_EXAMPLES = [
    (MessageTopic.ORDER, Language.ZH_HANS, "我想取消订单，刚刚拍错了颜色"),
    (MessageTopic.ORDER, Language.ZH_HANT, "我想取消訂單，剛剛下單選錯了尺寸"),
    (MessageTopic.ORDER, Language.EN, "Please cancel my order, I placed it by mistake"),
    (MessageTopic.LOGISTICS, Language.ZH_HANS, "快递三天了还没到，物流信息一直没有更新"),
    (MessageTopic.LOGISTICS, Language.ZH_HANT, "包裹寄出三天了還沒到，物流資訊一直沒有更新"),
    (MessageTopic.LOGISTICS, Language.EN, "My parcel has not arrived and the tracking page shows no updates"),
    (MessageTopic.AFTER_SALES, Language.ZH_HANS, "收到的鞋子尺码不对，我想退货"),
    (MessageTopic.AFTER_SALES, Language.ZH_HANT, "收到的鞋子尺寸不對，我想退貨"),
    (MessageTopic.AFTER_SALES, Language.EN, "The shoes are too small, how do I return them for a refund?"),
    (MessageTopic.PAYMENT, Language.ZH_HANS, "我需要开发票，税号应该填在哪里"),
    (MessageTopic.PAYMENT, Language.ZH_HANT, "我需要開發票，統一編號要填在哪裡"),
    (MessageTopic.PAYMENT, Language.EN, "Can you send me an invoice for my last payment?"),
    (MessageTopic.ACCOUNT, Language.ZH_HANS, "忘记密码了，手机也收不到验证码，登录不了"),
    (MessageTopic.ACCOUNT, Language.ZH_HANT, "忘記密碼了，手機也收不到驗證碼，登入不了"),
    (MessageTopic.ACCOUNT, Language.EN, "I forgot my password and the reset email never arrives"),
    (MessageTopic.PROMOTION, Language.ZH_HANS, "优惠券结算时用不了，满减活动也没有生效"),
    (MessageTopic.PROMOTION, Language.ZH_HANT, "優惠券不能用，滿額折扣也沒有生效"),
    (MessageTopic.PROMOTION, Language.EN, "The discount code from your newsletter doesn't work"),
    (MessageTopic.PRODUCT, Language.ZH_HANS, "这款空气净化器的滤网规格是什么？适用面积多大？"),
    (MessageTopic.PRODUCT, Language.ZH_HANT, "這款空氣清淨機的濾網規格是什麼？適用坪數多大？"),
    (MessageTopic.PRODUCT, Language.EN, "What are the dimensions of this desk and what material is the top made of?"),
]


@pytest.mark.parametrize(
    ("expected", "language", "text"), TYPE_EXAMPLES, ids=[f"{t.value}-{lang.value}" for t, lang, _ in TYPE_EXAMPLES]
)
def test_message_type_is_recognised(classify, expected, language, text):
    result = classify(text)
    assert result.type is expected
    assert result.language is language


@pytest.mark.parametrize(
    ("expected", "language", "text"), TOPIC_EXAMPLES, ids=[f"{t.value}-{lang.value}" for t, lang, _ in TOPIC_EXAMPLES]
)
def test_topic_is_recognised(classify, expected, language, text):
    result = classify(text)
    assert result.topic is expected
    assert result.language is language


def test_a_message_naming_no_topic_is_about_other(classify):
    assert classify("我要投诉你们的客服，态度太差了").topic is MessageTopic.OTHER


def test_a_message_with_no_request_at_all_is_non_actionable(classify):
    for text in ("谢谢！", "好的，收到", "謝謝您", "Thanks, got it"):
        assert classify(text).type is MessageType.NON_ACTIONABLE, text


def test_thanks_with_a_request_is_not_non_actionable(classify):
    assert classify("谢谢，不过我的快递还没到，麻烦查一下").type is not MessageType.NON_ACTIONABLE


def test_an_angry_message_naming_no_request_is_a_complaint(classify):
    assert classify("你们就是一群骗子，垃圾公司！！！").type is MessageType.COMPLAINT


def test_a_message_the_intake_marked_automated_is_non_actionable_with_full_confidence(classify):
    from switchboard_common.events.models import AutomatedReason

    result = classify("My order has not arrived, I want a refund!!!", automated=AutomatedReason.AUTO_REPLY)
    assert result.type is MessageType.NON_ACTIONABLE
    assert result.confidence == 1.0
    assert "automated:auto_reply" in result.evidence


def test_a_longer_keyword_hides_the_shorter_one_inside_it(classify):
    assert classify("这个不急，有空再帮我看看发票").sentiment.stated_urgency is False
    assert classify("这个很急，帮我看看发票").sentiment.stated_urgency is True


def test_english_keywords_match_whole_words_only(classify):
    # "order" inside "border", "pay" inside "display": no order or payment evidence
    result = classify("The border of the display is scratched")
    assert not any(e.startswith(("topic:order", "topic:payment")) for e in result.evidence)


def test_stem_keywords_match_inflected_words(classify):
    assert classify("I was refunded only half").topic is MessageTopic.AFTER_SALES


def test_the_subject_counts_as_evidence(classify):
    assert classify("see below", subject="Refund request").topic is MessageTopic.AFTER_SALES


def test_full_width_text_is_matched_like_ascii(classify):
    assert classify("ＲＥＦＵＮＤ ｐｌｅａｓｅ").topic is MessageTopic.AFTER_SALES


@pytest.mark.parametrize("text", ["5", "４", "4/5", "3 stars", "★★★★☆", "五星", "4分", " 2 ! "])
def test_a_message_that_is_only_a_rating_is_non_actionable_by_its_own_rule(classify, rules_classifier, text):
    # A customer answering a satisfaction request by typing the score: the notifier records it; no team gets it.
    from switchboard_classifier.classifier import RATING_ONLY_EVIDENCE, ClassificationInput

    for result in (classify(text), rules_classifier.classify(ClassificationInput(text=text))):
        assert result.type is MessageType.NON_ACTIONABLE, text
        assert result.evidence[0] == RATING_ONLY_EVIDENCE
        assert result.confidence == 1.0


def test_a_rating_is_positive_or_negative_by_its_score(classify):
    assert classify("5").sentiment.score == 1.0
    assert classify("1").sentiment.score == -1.0
    assert classify("3").sentiment.score == 0.0


@pytest.mark.parametrize(
    "text",
    ["5 days and my parcel has not arrived", "order 5 is missing", "我给五星，但是还有一个问题：发票没开", "6", "0"],
)
def test_a_number_inside_a_request_is_not_a_rating(classify, text):
    from switchboard_classifier.classifier import RATING_ONLY_EVIDENCE

    assert RATING_ONLY_EVIDENCE not in classify(text).evidence
