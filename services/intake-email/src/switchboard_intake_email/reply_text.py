"""What the customer wrote this time: quoted replies and signatures stripped. Pure.

The classifier should read the customer's new words, not the acknowledgement they are replying to
or the signature under every mail. Recognised, in English and Chinese (simplified and traditional)
and the usual mail programs' forms:

* quoted lines (``> ...``), anywhere (answers written between quotes are kept);
* the attribution line before a quote: ``On <date>, <name> wrote:`` (also wrapped over two or three
  lines), ``在 <date>，<name> 写道：``, ``<name> 于 <date> 写道：``, ``<name> 於 <date> 寫道：``, and
  the French and German forms;
* forwarded-header separators of replies: ``-----Original Message-----``, ``------ 原始邮件 ------``,
  Outlook's ``From: / Sent: / To: / Subject:`` block (``发件人: / 发送时间:``, ``寄件者: / 寄件日期:``),
  an underscore rule followed by such a block;
* signatures: the ``-- `` delimiter and "Sent from my iPhone"-style lines (发自我的iPhone ...).

Everything from the first reply separator on is dropped. When nothing would remain (a reply that is
only a quote), the full text is the new content, so that nothing the customer sent is hidden.
"""

from __future__ import annotations

import re

_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{0,300}\bwrote\s*:?\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb\b.{0,100}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*在.{0,200}(写道|寫道)\s*[:：]?\s*$", re.DOTALL),
    re.compile(r"^.{0,200}(于|於).{0,200}(写道|寫道)\s*[:：]?\s*$", re.DOTALL),
]
_SEPARATORS = [
    re.compile(r"^\s*-{2,}\s*(Original Message|Original message|Reply message)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(原始邮件|原始郵件|原邮件|原郵件|回复的原邮件|回覆的原郵件)\s*-{2,}\s*$"),
    re.compile(r"^\s*_{10,}\s*$"),
]
_HEADER_FROM = re.compile(r"^\s*\*?(From|De|Von|发件人|發件人|寄件者|寄件人)\s*\*?\s*[:：]", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(Sent|Date|Datum|Envoyé|To|Subject|Cc|发送时间|發送時間|日期|时间|時間|寄件日期|收件人|主题|主題)"
    r"\s*\*?\s*[:：]",
    re.IGNORECASE,
)
_SIGNATURE_DELIMITER = re.compile(r"^-- ?$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(Sent from my \w+|Sent from (Mail|Outlook) for \w+|Get Outlook for \w+|Sent from Yahoo Mail.*"
    r"|Sent via .{1,40}|发自我的\s*\w+|从我的\s*\w+\s*发送|來自我的\s*\w+|從我的\s*\w+\s*傳送"
    r"|发自网易邮箱.*|发自\s*QQ\s*邮箱.*)\s*$",
    re.IGNORECASE,
)


def _is_attribution(lines: list[str], index: int) -> bool:
    """Whether an attribution line starts at ``index`` (it may be wrapped over up to three lines)."""
    line = lines[index].strip()
    if not line:
        return False
    for span in (1, 2, 3):
        parts = lines[index : index + span]
        if len(parts) < span or any(not part.strip() for part in parts):
            break  # a wrapped attribution has no blank line inside
        joined = " ".join(part.strip() for part in parts)
        # Only the forms that start with a fixed word ("On", "Le", "Am") are recognised when wrapped.
        patterns = _ATTRIBUTION if span == 1 else _ATTRIBUTION[:3]
        if any(pattern.match(joined) for pattern in patterns):
            following = lines[index + span : index + span + 3]
            ends_with_colon = joined.rstrip().endswith((":", "："))
            quote_follows = any(f.lstrip().startswith(">") for f in following)
            if ends_with_colon or quote_follows:
                return True
    return False


def _is_header_block(lines: list[str], index: int) -> bool:
    if not _HEADER_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()]
    return sum(1 for line in following if _HEADER_NEXT.match(line)) >= 2


def reply_cut(lines: list[str]) -> int:
    """Index of the first line that belongs to the quoted reply or the signature (len(lines) if none)."""
    for index, line in enumerate(lines):
        stripped = line.rstrip()
        if _SIGNATURE_DELIMITER.match(stripped) or _MOBILE_SIGNATURE.match(stripped):
            return index
        if any(pattern.match(stripped) for pattern in _SEPARATORS):
            return index
        if _is_header_block(lines, index) or _is_attribution(lines, index):
            return index
    return len(lines)


def strip_quoted_reply(text: str) -> str:
    """The customer's new words in ``text`` (plain text with ``\\n`` line breaks)."""
    lines = text.split("\n")
    kept = [line for line in lines[: reply_cut(lines)] if not line.lstrip().startswith(">")]
    new = "\n".join(kept).strip()
    return new or text.strip()
