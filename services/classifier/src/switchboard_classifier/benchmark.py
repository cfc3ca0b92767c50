"""Throughput of :meth:`RulesClassifier.classify` on a realistic mix of messages, on one core.

    python -m switchboard_classifier.benchmark [--seconds 5] [--corpus PATH_TO_BITEXT_CSV]

The built-in mix is short chat lines and longer emails in simplified Chinese, traditional Chinese and
English, with order numbers, amounts and contact details; ``--corpus`` adds the English requests of
a CSV file with an ``instruction`` column (the Bitext customer-support sample).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from switchboard_classifier.classifier import ClassificationInput, RulesClassifier
from switchboard_classifier.taxonomy import load_taxonomy
from switchboard_common.events.models import Channel

MIX = [
    "在吗？我的订单号 202311241234567 三天了还没发货，能帮我催一下吗？急用",
    "請問我的包裹什麼時候會到？訂單編號 TW20231124001，運單號 SF1234567890123",
    "Hi, my order #A123-4567 hasn't arrived yet and the tracking page shows no updates. Can you check?",
    "你们这个垃圾产品，充电的时候冒烟了！！！气死我了，我要投诉，电话 13800138000",
    "I was charged twice for the same order ($45.99 each). Please refund the duplicate charge ASAP.",
    "建议你们的App增加夜间模式，晚上看着太刺眼了",
    "It would be great if you offered gift wrapping at checkout. Just a suggestion, thanks!",
    "收到的鞋子尺码不对，想换大一码，请问怎么退换货？运费谁出？",
    "我的帳號被盜了，有人用我的信用卡買了 NT$1,500 的東西，請立刻幫我凍結帳號！",
    "Our store is down since this morning, the POS cannot take orders and we are losing sales. Urgent!",
    "谢谢！",
    "Out of office: I am currently away until Monday and will reply when I return.",
    "优惠券结算时用不了，满减活动也没有生效，能补给我吗？",
    "Hello,\n\nI bought a blender from your shop last week (order number 88812345) and it stopped working "
    "after two days. It won't turn on at all. I would like a replacement or a refund of ¥1,299.00.\n\n"
    "You can reach me at jane.doe@example.com or +1 (415) 555-0100.\n\nBest regards,\nJane",
    "忘记密码了，手机也收不到验证码，登录不了，怎么办",
    "Could you tell me the dimensions of this desk and what material the top is made of?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--corpus", type=Path, help="CSV with an 'instruction' column to add to the mix")
    args = parser.parse_args()
    texts = list(MIX)
    if args.corpus is not None:
        with args.corpus.open(encoding="utf-8", newline="") as handle:
            texts += [row["instruction"] for row in csv.DictReader(handle)]
    items = [ClassificationInput(text=t, channel=Channel.WEBCHAT) for t in texts]
    classifier = RulesClassifier(load_taxonomy())
    for item in items:  # warm up
        classifier.classify(item)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for item in items:
            classifier.classify(item)
        count += len(items)
    elapsed = time.perf_counter() - started
    average = sum(len(t) for t in texts) / len(texts)
    rate = count / elapsed
    print(f"{rate:,.0f} messages/s on one core ({count} messages, {len(texts)} distinct, {average:.0f} chars avg)")


if __name__ == "__main__":
    main()
