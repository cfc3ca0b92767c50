"""Case references: short, unique, human-readable, typo-checked.

A case reference is derived from the position of the message that opened the case in the intake
topic (partition and offset). Offsets are never reused within a partition, so references are unique
without any coordination, and both the dispatcher and the notifier (which may have to acknowledge
before the dispatcher has routed) compute the same reference from the same message.

Encoding: ``offset * 1024 + partition`` in Crockford base32, followed by Crockford's mod-37 check
symbol, grouped by four: ``SB-1FQ3-8K2Z``. Parsing is case-insensitive, accepts the look-alikes
Crockford allows (O for 0, I and L for 1) and rejects a mistyped reference by its check symbol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "SB"
MAX_PARTITIONS = 1024
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHECK_ALPHABET = _ALPHABET + "*~$=U"
_DECODE = {ch: i for i, ch in enumerate(_ALPHABET)} | {"O": 0, "I": 1, "L": 1}
_CHECK_DECODE = {ch: i for i, ch in enumerate(_CHECK_ALPHABET)} | {"O": 0, "I": 1, "L": 1}

# In free text: "SB-1FQ3-8K2Z", "sb 1fq38k2z", "SB1FQ3 8K2Z". Six to fourteen symbols after the prefix.
REFERENCE_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])SB[\s-]?((?:[0-9A-Za-z*~$=][\s-]?){5,13}[0-9A-Za-z*~$=])(?![A-Za-z0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class IntakePosition:
    """Where a message sits in the intake topic."""

    partition: int
    offset: int


class InvalidCaseReference(ValueError):
    """The text is not a well-formed case reference (or its check symbol does not match)."""


def _encode(value: int) -> str:
    if value == 0:
        return "0"
    symbols = []
    while value:
        value, rem = divmod(value, 32)
        symbols.append(_ALPHABET[rem])
    return "".join(reversed(symbols))


def case_reference(position: IntakePosition) -> str:
    """The case reference for the message at ``position`` in the intake topic."""
    if not 0 <= position.partition < MAX_PARTITIONS:
        raise ValueError(f"partition {position.partition} outside 0..{MAX_PARTITIONS - 1}")
    if position.offset < 0:
        raise ValueError("offset must not be negative")
    value = position.offset * MAX_PARTITIONS + position.partition
    body = _encode(value).rjust(6, "0")
    symbols = body + _CHECK_ALPHABET[value % 37]
    groups = [symbols[i : i + 4] for i in range(0, len(symbols), 4)]
    return f"{PREFIX}-" + "-".join(groups)


def parse_case_reference(text: str) -> IntakePosition:
    """Decode a reference as a customer might type it; raises :class:`InvalidCaseReference`."""
    cleaned = re.sub(r"[\s-]", "", text).upper()
    if not cleaned.startswith(PREFIX) or len(cleaned) < len(PREFIX) + 7:
        raise InvalidCaseReference(f"not a case reference: {text!r}")
    body, check = cleaned[len(PREFIX) : -1], cleaned[-1]
    value = 0
    for ch in body:
        if ch not in _DECODE:
            raise InvalidCaseReference(f"unexpected symbol {ch!r} in {text!r}")
        value = value * 32 + _DECODE[ch]
    if check not in _CHECK_DECODE or _CHECK_DECODE[check] != value % 37:
        raise InvalidCaseReference(f"check symbol does not match in {text!r}")
    offset, partition = divmod(value, MAX_PARTITIONS)
    return IntakePosition(partition=partition, offset=offset)


def normalise_case_reference(text: str) -> str:
    """The canonical spelling of a reference typed in any accepted form."""
    return case_reference(parse_case_reference(text))


def find_case_references(text: str) -> list[str]:
    """Every valid case reference quoted in free text, canonicalised, in order, without repeats."""
    found: list[str] = []
    for match in REFERENCE_IN_TEXT.finditer(text or ""):
        try:
            reference = normalise_case_reference(PREFIX + match.group(1))
        except InvalidCaseReference:
            continue
        if reference not in found:
            found.append(reference)
    return found
