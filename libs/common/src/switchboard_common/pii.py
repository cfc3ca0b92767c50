"""Masking of personal contact details.

The rule from the customer-service process: logs and department events carry masked contact
details. A phone number keeps only its last four digits, an email address only its first character
and its domain. Originals stay only in the fields that are needed to reply.
"""

from __future__ import annotations

import re

EMAIL_PATTERN = re.compile(
    r"(?<![A-Za-z0-9.+_%-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})(?![A-Za-z0-9-])"
)

# Phone numbers that are unambiguous in free text: international (+country code), mainland-China
# mobiles, and national numbers written with separators. A bare run of digits without a leading
# "+" is left alone unless it is a mainland mobile: order and tracking numbers are digit runs too.
PHONE_PATTERN = re.compile(
    r"""
    (?<![0-9A-Za-z+])(?:
        \+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}   # +86 138 0013 8000, +1 (415) 555-0100
      | 1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}                                          # 13800138000, 138-0013-8000
      | \(\d{2,4}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}                                 # (415) 555-0100, (02) 2345 6789
      | 0\d{1,3}-\d{3,4}-?\d{4}                                                # 021-6123-4567, 02-2345-6789
      | \d{3}[.-]\d{3}[.-]\d{4}                                                 # 415-555-0100
    )(?![0-9A-Za-z])
    """,
    re.VERBOSE,
)
_DIGIT = re.compile(r"\d")


def mask_email(address: str) -> str:
    """``jane.doe@example.com`` becomes ``j***@example.com``; anything unparsable becomes ``***``."""
    local, sep, domain = address.strip().rpartition("@")
    if not sep or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str) -> str:
    """Keep only the last four digits: ``+86 138 0013 8000`` becomes ``***8000``."""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "***"
    return f"***{digits[-4:]}"


def mask_text(text: str) -> str:
    """Mask every email address and phone number found in free text."""
    if not text:
        return text
    masked = EMAIL_PATTERN.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text) if "@" in text else text
    if _DIGIT.search(masked) is not None:  # every phone number has a digit (\d)
        masked = PHONE_PATTERN.sub(lambda m: mask_phone(m.group(0)), masked)
    return masked


def mask_handle(handle: str) -> str:
    """Mask a channel handle: email addresses and phone numbers are masked, opaque ids kept."""
    if "@" in handle and EMAIL_PATTERN.fullmatch(handle.strip()):
        return mask_email(handle)
    digits = re.sub(r"[\s().+-]", "", handle)
    if digits.isdigit() and len(digits) >= 7:
        return mask_phone(handle)
    return mask_text(handle)
