"""Case references: short, unique, human-readable, typo-checked.

A case reference is derived from the position of the message that opened the case in the intake
topic (partition and offset). Offsets are never reused within a partition, so references are unique
without any coordination, and both the dispatcher and the notifier (which may have to acknowledge
before the dispatcher has routed) compute the same reference from the same message.

Encoding: ``offset * 1024 + partition`` is mixed by a fixed bijection (a Feistel network) over the
smallest of 40, 50 or 60 bits that holds it, so consecutive cases do not get look-alike, guessable
references; the result is written in Crockford base32 (8, 10 or 12 symbols) followed by Crockford's
mod-37 check symbol, grouped for reading aloud: ``SB-7K3-M9Q-XDZ``. Parsing is case-insensitive,
accepts the look-alikes Crockford allows (O for 0, I and L for 1), and rejects a mistyped reference
by its check symbol.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

PREFIX = "SB"
MAX_PARTITIONS = 1024
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHECK_ALPHABET = _ALPHABET + "*~$=U"
_DECODE = {ch: i for i, ch in enumerate(_ALPHABET)} | {"O": 0, "I": 1, "L": 1}
_CHECK_DECODE = {ch: i for i, ch in enumerate(_CHECK_ALPHABET)} | {"O": 0, "I": 1, "L": 1}

# In free text: "SB-7K3-M9Q-XDZ", "sb 7k3m9qxdz", "SB7K3M9Q XDZ": nine, eleven or thirteen symbols.
REFERENCES_IN_TEXT = tuple(
    re.compile(
        rf"(?<![A-Za-z0-9])SB[\s-]?((?:[0-9A-Za-z*~$=][\s-]?){{{n - 1}}}[0-9A-Za-z*~$=])(?![A-Za-z0-9])",
        re.IGNORECASE,
    )
    for n in (13, 11, 9)
)
_DOMAIN_BITS = (40, 50, 60)
_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class IntakePosition:
    """Where a message sits in the intake topic."""

    partition: int
    offset: int


class InvalidCaseReference(ValueError):
    """The text is not a well-formed case reference (or its check symbol does not match)."""


_ROUND_KEYS = tuple(hashlib.blake2b(b"%d:" % i, digest_size=8, person=b"sb-case-ref") for i in range(_ROUNDS))
"""The round function's hash with ``"<round>:"`` already absorbed: each round only adds the half."""


def _round(half: int, round_index: int, bits: int) -> int:
    """BLAKE2b-64 of ``"<round>:<half>"`` (personalised), cut to ``bits``."""
    state = _ROUND_KEYS[round_index].copy()
    state.update(b"%d" % half)
    return int.from_bytes(state.digest(), "big") & ((1 << bits) - 1)


def _mix(value: int, bits: int, *, inverse: bool = False) -> int:
    """A fixed bijection on [0, 2**bits): a balanced Feistel network."""
    half_bits = bits // 2
    mask = (1 << half_bits) - 1
    left, right = value >> half_bits, value & mask
    rounds = range(_ROUNDS - 1, -1, -1) if inverse else range(_ROUNDS)
    for index in rounds:
        if inverse:
            left, right = right ^ _round(left, index, half_bits), left
        else:
            left, right = right, left ^ _round(right, index, half_bits)
    return (left << half_bits) | right


def _group(symbols: str) -> str:
    size = 3 if len(symbols) == 9 else 4
    return "-".join(symbols[i : i + size] for i in range(0, len(symbols), size))


def case_reference(position: IntakePosition) -> str:
    """The case reference for the message at ``position`` in the intake topic."""
    if not 0 <= position.partition < MAX_PARTITIONS:
        raise ValueError(f"partition {position.partition} outside 0..{MAX_PARTITIONS - 1}")
    if position.offset < 0:
        raise ValueError("offset must not be negative")
    value = position.offset * MAX_PARTITIONS + position.partition
    bits = next((b for b in _DOMAIN_BITS if value < 1 << b), None)
    if bits is None:
        raise ValueError(f"offset {position.offset} is beyond what a case reference encodes")
    mixed = _mix(value, bits)
    body = "".join(_ALPHABET[(mixed >> shift) & 31] for shift in range(bits - 5, -1, -5))
    return f"{PREFIX}-" + _group(body + _CHECK_ALPHABET[mixed % 37])


def parse_case_reference(text: str) -> IntakePosition:
    """Decode a reference as a customer might type it; raises :class:`InvalidCaseReference`."""
    cleaned = re.sub(r"[\s-]", "", text).upper()
    if not cleaned.startswith(PREFIX):
        raise InvalidCaseReference(f"not a case reference: {text!r}")
    body, check = cleaned[len(PREFIX) : -1], cleaned[-1:]
    bits = len(body) * 5
    if bits not in _DOMAIN_BITS:
        raise InvalidCaseReference(f"a case reference has 9, 11 or 13 symbols after {PREFIX}: {text!r}")
    mixed = 0
    for ch in body:
        if ch not in _DECODE:
            raise InvalidCaseReference(f"unexpected symbol {ch!r} in {text!r}")
        mixed = mixed * 32 + _DECODE[ch]
    if check not in _CHECK_DECODE or _CHECK_DECODE[check] != mixed % 37:
        raise InvalidCaseReference(f"check symbol does not match in {text!r}")
    value = _mix(mixed, bits, inverse=True)
    offset, partition = divmod(value, MAX_PARTITIONS)
    return IntakePosition(partition=partition, offset=offset)


def normalise_case_reference(text: str) -> str:
    """The canonical spelling of a reference typed in any accepted form."""
    return case_reference(parse_case_reference(text))


def find_case_references(text: str) -> list[str]:
    """Every valid case reference quoted in free text, canonicalised, in order, without repeats."""
    found: list[tuple[int, str]] = []
    if not text or "sb" not in text.lower():
        return []
    for pattern in REFERENCES_IN_TEXT:
        for match in pattern.finditer(text):
            try:
                reference = normalise_case_reference(PREFIX + match.group(1))
            except InvalidCaseReference:
                continue
            if all(reference != seen for _, seen in found):
                found.append((match.start(), reference))
    return [reference for _, reference in sorted(found)]
