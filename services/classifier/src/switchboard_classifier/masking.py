"""Masked text: contact details hidden, order and tracking numbers kept.

The extractor's phone numbers and email addresses are masked where it found them (it also finds
them inside Chinese text, where the shared patterns do not look), then
:func:`switchboard_common.pii.mask_text` masks whatever else looks like contact details. Order and
tracking numbers are set aside while that runs, so that no digit run a customer quoted is hidden.
"""

from __future__ import annotations

from switchboard_classifier.entities import FoundEntities, Span
from switchboard_common.pii import mask_email, mask_phone, mask_text

_PLACEHOLDER_BASE = 0xF0000  # Supplementary Private Use Area-A: never in customer text, never \w or a digit


def mask_contacts(text: str, found: FoundEntities) -> str:
    """``text`` with phone numbers and email addresses masked, order and tracking numbers kept."""
    if not text:
        return text
    if not (found.order_numbers or found.tracking_numbers or found.phone_numbers or found.emails):
        return mask_text(text)
    protected = sorted(found.protected(), key=lambda s: s.start)
    replacements: list[tuple[Span, str]] = [
        (span, chr(_PLACEHOLDER_BASE + index)) for index, span in enumerate(protected)
    ]
    replacements += [(span, mask_phone(span.value)) for span in found.phone_numbers]
    replacements += [(span, mask_email(span.value)) for span in found.emails]
    replacements.sort(key=lambda item: item[0].start)
    parts: list[str] = []
    position = 0
    for span, replacement in replacements:
        if span.start < position:  # overlapping spans are kept apart by the extractor; be safe anyway
            continue
        parts.append(text[position : span.start])
        parts.append(replacement)
        position = span.end
    parts.append(text[position:])
    masked = mask_text("".join(parts))
    for index, span in enumerate(protected):
        masked = masked.replace(chr(_PLACEHOLDER_BASE + index), span.value, 1)
    return masked
