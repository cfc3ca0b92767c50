"""Attachments and inline images as metadata, with the reasons some are not accepted. Pure.

The content of an attachment never travels on Kafka: the event carries its name, type, size and
SHA-256, and a ``rejected_reason`` when it is too large, one too many, or something that could run
(by extension, by declared type, or by its first bytes, whatever the sender claims).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from switchboard_common.events.models import Attachment

EXECUTABLE_EXTENSIONS = frozenset(
    {
        "exe", "com", "bat", "cmd", "scr", "pif", "cpl", "msi", "msp", "mst", "dll", "sys", "drv", "ocx",
        "js", "jse", "vbs", "vbe", "vb", "wsf", "wsh", "wsc", "ws", "ps1", "ps1xml", "ps2", "psc1", "psm1",
        "hta", "jar", "lnk", "inf", "reg", "scf", "sct", "msc", "application", "gadget", "appx", "msix",
        "sh", "bash", "csh", "ksh", "command", "app", "apk", "dmg", "pkg", "deb", "rpm", "run", "bin", "elf",
        "iso", "img", "vhd", "vhdx", "chm", "url", "website", "xll", "docm", "dotm", "xlsm", "xltm", "xlam",
        "pptm", "potm", "ppam", "sldm",
    }
)  # fmt: skip
EXECUTABLE_TYPES = frozenset(
    {
        "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
        "application/x-executable", "application/x-elf", "application/x-sharedlib", "application/x-sh",
        "application/x-shellscript", "application/x-bat", "application/x-msi", "application/x-ms-installer",
        "application/java-archive", "application/x-java-archive", "application/hta", "application/x-ms-shortcut",
        "application/javascript", "text/javascript", "application/x-javascript", "application/vbscript",
        "text/vbscript", "application/x-vbscript", "application/vnd.microsoft.portable-executable",
        "application/x-apple-diskimage", "application/vnd.android.package-archive",
        "application/vnd.ms-excel.sheet.macroenabled.12", "application/vnd.ms-word.document.macroenabled.12",
        "application/vnd.ms-powerpoint.presentation.macroenabled.12",
    }
)  # fmt: skip
_MAGIC = (b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"#!/")


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """How much an email may bring along."""

    max_attachment_bytes: int = 25 * 1024 * 1024
    max_attachments: int = 50


class RejectedReason:
    EXECUTABLE = "executable content is not accepted"
    TOO_LARGE = "larger than the attachment limit"
    TOO_MANY = "more attachments than the limit"


def extension(filename: str | None) -> str:
    if not filename:
        return ""
    name = filename.strip().rstrip(". ").lower()
    return name.rsplit(".", 1)[-1] if "." in name else ""


def executable_reason(filename: str | None, content_type: str, head: bytes) -> str | None:
    """Why this part could run on a recipient's machine, or None."""
    if extension(filename) in EXECUTABLE_EXTENSIONS:
        return RejectedReason.EXECUTABLE
    if content_type.lower() in EXECUTABLE_TYPES:
        return RejectedReason.EXECUTABLE
    if head.startswith(_MAGIC):
        return RejectedReason.EXECUTABLE
    # "invoice.pdf.exe" is caught above; "invoice.exe.pdf" is a PDF named to look odd, not executable.
    return None


_SAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def safe_filename(name: str | None) -> str | None:
    """The file name without path parts or control characters (what a department may display)."""
    if not name:
        return None
    cleaned = _SAFE_NAME.sub("_", name).strip()[:255]
    return cleaned or None


def describe_attachment(
    *,
    filename: str | None,
    content_type: str,
    disposition: str,
    content: bytes,
    index: int,
    limits: AttachmentLimits,
) -> Attachment:
    """Metadata of the ``index``-th attachment (0-based) of a message."""
    size = len(content)
    reason = executable_reason(filename, content_type, content[:8])
    if reason is None and size > limits.max_attachment_bytes:
        reason = RejectedReason.TOO_LARGE
    if reason is None and index >= limits.max_attachments:
        reason = RejectedReason.TOO_MANY
    return Attachment(
        filename=safe_filename(filename),
        content_type=content_type.lower(),
        size_bytes=size,
        sha256=hashlib.sha256(content).hexdigest(),
        disposition=disposition,
        rejected_reason=reason,
    )
