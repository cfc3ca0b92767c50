"""Turning what customers send into safe plain text."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 control characters except tab and newline, zero-width and bidirectional overrides (which can
# make text display differently from what it says), and the BOM.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def safe_plain_text(text: str, max_chars: int | None = None) -> tuple[str, bool]:
    """NFC-normalised text without control or direction-override characters; (text, truncated)."""
    cleaned = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    cleaned = _UNSAFE.sub("", cleaned)
    cleaned = _MANY_BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("\n", cleaned)).strip()
    if max_chars is not None and len(cleaned) > max_chars:
        return cleaned[:max_chars], True
    return cleaned, False


def language_from_locale(locale: str | None) -> str | None:
    """BCP 47 locale to the gateway's language tags: zh-CN -> zh-Hans, zh-TW/HK/MO -> zh-Hant, en-* -> en."""
    if not locale:
        return None
    tag = locale.strip().replace("_", "-").split(",")[0].split(";")[0].lower()
    if tag.startswith("zh"):
        if any(part in tag for part in ("hant", "-tw", "-hk", "-mo")):
            return "zh-Hant"
        return "zh-Hans"
    if tag.startswith("en"):
        return "en"
    return None
