"""Entities in a customer's text: order numbers, tracking numbers, amounts, phone numbers, emails.

Extraction works on the text as the customer wrote it and records where each entity is, so that
masking can hide contact details without touching order or tracking numbers (digit runs too).
Order numbers are recognised by what introduces them ("订单号", "訂單編號", "order #"); tracking
numbers by what introduces them or by a carrier's own format (SF Express, UPS, YTO, JD, J&T, UPU).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from switchboard_common.events.models import Entities, Money

_ID = r"(?P<id>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?![A-Za-z0-9-])"
_LEAD_IN = r"(?:\s*(?:[:：#＃]|是|为|為|is|was)\s*)*\s*"

ORDER_CONTEXT = re.compile(
    r"(?:订单(?:编号|号码|号)?|訂單(?:編號|號碼|號)?"
    r"|(?<![A-Za-z])order(?:\s*(?:number|no\.?|num|id|ref(?:erence)?)(?![A-Za-z]))?)" + _LEAD_IN + _ID,
    re.IGNORECASE,
)
TRACKING_CONTEXT = re.compile(
    r"(?:快递单号|快遞單號|快递号|快遞號|运单号|運單號|运单|運單|物流单号|物流單號|追踪号|追蹤號碼|追蹤號|追蹤碼|包裹号|包裹號"
    r"|(?<![A-Za-z])(?:tracking|waybill|awb)(?:\s*(?:number|no\.?|num|id|code)(?![A-Za-z]))?)" + _LEAD_IN + _ID,
    re.IGNORECASE,
)
TRACKING_FORMAT = re.compile(
    r"(?<![A-Za-z0-9])(?:SF\d{12,13}|1Z[0-9A-Z]{16}|YT\d{13,15}|JD[0-9A-Z]{11,16}|JT\d{13}"
    r"|(?:ZTO|STO|YD)\d{10,15}|[A-Z]{2}\d{9}[A-Z]{2})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![A-Za-z0-9-])")
# Like switchboard_common.pii.PHONE_PATTERN, but bounded by ASCII letters and digits only: in
# Chinese text a number follows a Han character directly ("电话13800138000").
PHONE = re.compile(
    r"""
    (?<![A-Za-z0-9+])(?:
        \+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}   # +86 138 0013 8000, +1 (415) 555-0100
      | 1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}                                          # mainland mobile 13800138000
      | 09\d{2}[\s-]?\d{3}[\s-]?\d{3}                                           # Taiwan mobile 0912-345-678
      | \(\d{2,4}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}                                 # (415) 555-0100, (02) 2345 6789
      | 0\d{1,3}-\d{3,4}-?\d{4}                                                # 021-6123-4567
      | \d{3}[.-]\d{3}[.-]\d{4}                                                 # 415-555-0100
    )(?![A-Za-z0-9])
    """,
    re.VERBOSE,
)

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_PREFIX_CURRENCIES = {
    "hk$": "HKD", "nt$": "TWD", "us$": "USD", "s$": "SGD", "c$": "CAD", "a$": "AUD",
    "rmb": "CNY", "cny": "CNY", "usd": "USD", "hkd": "HKD", "twd": "TWD", "ntd": "TWD",
    "eur": "EUR", "gbp": "GBP", "jpy": "JPY", "¥": "CNY", "￥": "CNY", "$": "USD", "€": "EUR", "£": "GBP",
    "人民币": "CNY", "人民幣": "CNY", "港币": "HKD", "港幣": "HKD", "新台币": "TWD", "新台幣": "TWD",
    "台币": "TWD", "台幣": "TWD", "美元": "USD", "美金": "USD",
}  # fmt: skip
YUAN = "yuan"
"""Marker for 元/块: the renminbi in simplified Chinese, ambiguous (TWD, HKD) in traditional."""
_SUFFIX_CURRENCIES = {
    "元": YUAN, "块钱": YUAN, "块": YUAN, "塊錢": YUAN, "塊": YUAN, "圆": YUAN, "圓": YUAN,
    "人民币": "CNY", "人民幣": "CNY", "港币": "HKD", "港幣": "HKD", "港元": "HKD", "新台币": "TWD",
    "新台幣": "TWD", "台币": "TWD", "台幣": "TWD", "美元": "USD", "美金": "USD", "欧元": "EUR", "歐元": "EUR",
    "英镑": "GBP", "英鎊": "GBP", "日元": "JPY", "日圓": "JPY", "dollars": "USD", "dollar": "USD", "usd": "USD",
    "bucks": "USD", "rmb": "CNY", "cny": "CNY", "yuan": "CNY", "hkd": "HKD", "twd": "TWD", "ntd": "TWD",
    "eur": "EUR", "euros": "EUR", "euro": "EUR", "gbp": "GBP", "pounds": "GBP", "jpy": "JPY",
}  # fmt: skip


def _alternation(words: dict[str, str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


AMOUNT = re.compile(
    rf"(?<![A-Za-z0-9.,])(?:(?P<pcur>{_alternation(_PREFIX_CURRENCIES)})\s?(?P<pnum>{_NUMBER})(?P<pwan>万|萬)?"
    rf"|(?P<snum>{_NUMBER})(?P<swan>万|萬)?\s?(?P<scur>{_alternation(_SUFFIX_CURRENCIES)}))(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class Span:
    """Where an entity is in the text, and its value as written."""

    start: int
    end: int
    value: str

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(slots=True)
class FoundEntities:
    """Entities found in one text, with their positions in it."""

    order_numbers: list[Span] = field(default_factory=list)
    tracking_numbers: list[Span] = field(default_factory=list)
    amounts: list[tuple[Span, Money]] = field(default_factory=list)
    phone_numbers: list[Span] = field(default_factory=list)
    emails: list[Span] = field(default_factory=list)

    def protected(self) -> list[Span]:
        """Spans that masking must leave as they are."""
        return [*self.order_numbers, *self.tracking_numbers]


def extract_entities(text: str, *, yuan_currency: str = "CNY") -> FoundEntities:
    """Find the entities in ``text``; ``yuan_currency`` is what 元/块 mean in this message's language."""
    found = FoundEntities()
    has_digits = _DIGIT.search(text) is not None
    if has_digits:
        for match in TRACKING_CONTEXT.finditer(text):
            if _DIGIT.search(match.group("id")) and _long_enough(match.group("id")):
                found.tracking_numbers.append(Span(*match.span("id"), match.group("id")))
        for match in TRACKING_FORMAT.finditer(text):
            _add(found.tracking_numbers, Span(*match.span(), match.group()))
        for match in ORDER_CONTEXT.finditer(text):
            span = Span(*match.span("id"), match.group("id"))
            if _DIGIT.search(span.value) and _long_enough(span.value) and not _overlaps_any(span, found.protected()):
                found.order_numbers.append(span)
    if "@" in text:
        found.emails.extend(Span(*m.span(), m.group()) for m in EMAIL.finditer(text))
    if has_digits:
        taken = found.protected() + found.emails
        for match in PHONE.finditer(text):
            span = Span(*match.span(), match.group())
            if not _overlaps_any(span, taken):
                found.phone_numbers.append(span)
        taken += found.phone_numbers
        for match in AMOUNT.finditer(text):
            span = Span(*match.span(), match.group())
            money = _money(match, yuan_currency)
            if money is not None and not _overlaps_any(span, taken):
                found.amounts.append((span, money))
    return found


def merge(*found: FoundEntities) -> Entities:
    """The event's entities: values as found, each once, in order of appearance."""
    if not any(f.order_numbers or f.tracking_numbers or f.amounts or f.phone_numbers or f.emails for f in found):
        return Entities(order_numbers=[], tracking_numbers=[], amounts=[], phone_numbers=[], emails=[])
    return Entities(
        order_numbers=_unique(s.value for f in found for s in f.order_numbers),
        tracking_numbers=_unique(s.value for f in found for s in f.tracking_numbers),
        amounts=list({(m.amount, m.currency): m for f in found for _, m in f.amounts}.values()),
        phone_numbers=_unique(s.value for f in found for s in f.phone_numbers),
        emails=_unique(s.value for f in found for s in f.emails),
    )


def _money(match: re.Match[str], yuan_currency: str) -> Money | None:
    if match.group("pcur") is not None:
        currency = _PREFIX_CURRENCIES[match.group("pcur").lower()]
        number, wan = match.group("pnum"), match.group("pwan")
    else:
        currency = _SUFFIX_CURRENCIES[match.group("scur").lower()]
        number, wan = match.group("snum"), match.group("swan")
    if currency == YUAN:
        currency = yuan_currency
    try:
        amount = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    if wan:
        amount *= 10_000
        if amount == amount.to_integral_value():
            amount = amount.quantize(Decimal(1))
    return Money(amount=amount, currency=currency)


def _long_enough(value: str) -> bool:
    return sum(ch.isalnum() for ch in value) >= 5


def _overlaps_any(span: Span, others: list[Span]) -> bool:
    return any(span.overlaps(o) for o in others)


def _add(spans: list[Span], span: Span) -> None:
    if not _overlaps_any(span, spans):
        spans.append(span)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
