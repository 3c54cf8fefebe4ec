"""Loan documents, pure: what a file is by its content, and a safe name to show for it.

A client's file name is never used as a path: files are stored under a generated name, and the
client's name is kept only for display, stripped of anything path-like."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

# Leading bytes of each accepted format (their published signatures).
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class VerificationStatus(StrEnum):
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"


def sniff_mime_type(head: bytes) -> str | None:
    """The MIME type the file's first bytes prove, or None when it is none of PDF/PNG/JPEG."""
    for signature, mime in _SIGNATURES:
        if head.startswith(signature):
            return mime
    return None


def display_name(client_name: str | None, mime: str) -> str:
    """The client's file name reduced to a harmless label: no directories, no control or
    path characters, at most 255 characters, never empty."""
    base = (client_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKC", base)
    base = _UNSAFE.sub("_", base).strip(" .")[:200]
    return base or f"document.{EXTENSIONS[mime]}"
