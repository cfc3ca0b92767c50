"""Bytes of real mail to text, whatever charset the mail declares (or wrongly declares). Pure, never raises.

Real mail declares charsets loosely: ``gb2312`` for text that uses GBK characters, ``iso-8859-1``
for Windows-1252 quotes or for UTF-8, ``big5`` for Hong Kong characters, names Python does not know
(``x-unknown``, ``unknown-8bit``, ``charset="utf8"``) or none at all. Each declared name maps to the
superset that real mailers mean by it; text that does not decode strictly in the declared charset is
tried in a list of fallbacks, and as a last resort decoded with replacement characters, so that a
customer's words are never lost because of a label.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

# What mailers mean by a declared name: the superset Python knows.
SUPERSETS = {
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "euccn": "gb18030",
    "x-euc-cn": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "hz-gb-2312": "hz",
    "big5": "big5hkscs",
    "big-5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "cp950": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "iso-2022-jp": "iso2022_jp_ext",
    "csiso2022jp": "iso2022_jp_ext",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "euc-jp": "euc_jis_2004",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "ksc5601": "cp949",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
}

# Names that say nothing about the bytes.
UNKNOWN = frozenset({"unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined", "none", "charset", "8bit"})

# Single-byte "Western" labels that are often on UTF-8 text.
_WESTERN = frozenset({"cp1252", "latin-1", "iso8859-1", "ascii"})

DEFAULT_FALLBACKS: tuple[str, ...] = ("utf-8", "gb18030", "cp1252")


def codec_for(declared: str | None) -> str | None:
    """The Python codec for a declared charset name, or None when the name is unknown or says nothing."""
    if not declared:
        return None
    name = declared.strip().strip("\"'").lower()
    if not name or name in UNKNOWN:
        return None
    name = SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None


def decode_bytes(
    data: bytes, declared: str | None = None, fallbacks: Sequence[str] = DEFAULT_FALLBACKS
) -> tuple[str, str]:
    """``(text, codec used)``: the declared charset when it fits, else the first fallback that does."""
    codec = codec_for(declared)
    if codec is not None and codec.startswith(("utf-16", "utf-32", "utf-7", "iso2022", "hz")):
        text = _strict(data, codec)
        if text is not None:
            return text, codec
    if data.isascii() and b"\x1b" not in data:
        return data.decode("ascii"), "ascii"
    if b"\x1b$" in data or b"\x1b(" in data:  # ISO-2022 escapes without a matching label
        text = _strict(data, "iso2022_jp_ext")
        if text is not None:
            return text, "iso2022_jp_ext"
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            if codec in _WESTERN:
                utf8 = _strict(data, "utf-8")
                if utf8 is not None:  # UTF-8 labelled as Latin-1: the label is wrong, not the text
                    return utf8, "utf-8"
            return text, codec
    for fallback in fallbacks:
        candidate = codec_for(fallback)
        if candidate is None or candidate == codec:
            continue
        text = _strict(data, candidate)
        if text is not None:
            return text, candidate
    chosen = codec or "utf-8"
    return data.decode(chosen, errors="replace"), chosen
