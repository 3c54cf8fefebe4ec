"""Loan document use cases: upload, list, read, verify (api.md §3 "Documents").

Files live under `<data dir>/documents/<loan id>/` with generated names; the row in
`loan_documents` is written after the file is in place, and the file is removed again if the
row cannot be written, so a listed document always has its file."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from elms.core.database import Database
from elms.core.errors import DomainError, invalid, not_found
from elms.loan import repository as repo
from elms.loan.documents import EXTENSIONS, VerificationStatus, display_name, sniff_mime_type
from elms.loan.repository import Document

CHUNK = 1024 * 1024


def too_large(limit: int) -> DomainError:
    return DomainError(
        f"Documents may be at most {limit // (1024 * 1024)} MB", "PAYLOAD_TOO_LARGE", 413
    )


async def upload(
    db: Database,
    root: Path,
    loan_id: str,
    document_type: str,
    client_name: str | None,
    chunks: AsyncIterator[bytes],
    limit: int,
    uploaded_by: str | None,
    now: datetime,
) -> Document:
    async with db.connection() as conn:
        if await repo.get_loan(conn, loan_id) is None:
            raise not_found("Loan", loan_id)
    folder = root / "documents" / loan_id
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".upload-{secrets.token_hex(8)}"
    size, mime = 0, None
    try:
        with partial.open("wb") as out:
            async for chunk in chunks:
                if mime is None:
                    mime = sniff_mime_type(chunk)
                    if mime is None:
                        raise invalid("file", "must be a PDF, PNG or JPEG file", client_name)
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                out.write(chunk)
        if mime is None:
            raise invalid("file", "the file is empty", client_name)
        final = folder / f"{secrets.token_hex(16)}.{EXTENSIONS[mime]}"
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    try:
        async with db.transaction() as conn:
            return await repo.insert_document(
                conn,
                {
                    "loan_id": loan_id,
                    "document_type": document_type,
                    "document_name": display_name(client_name, mime),
                    "file_path": str(final.relative_to(root)),
                    "file_size": size,
                    "mime_type": mime,
                    "uploaded_at": now,
                    "uploaded_by": uploaded_by,
                },
            )
    except BaseException:
        final.unlink(missing_ok=True)
        raise


async def list_documents(db: Database, loan_id: str) -> list[Document]:
    async with db.connection() as conn:
        if await repo.get_loan(conn, loan_id) is None:
            raise not_found("Loan", loan_id)
        return await repo.list_documents(conn, loan_id)


async def get_document(
    db: Database, root: Path, loan_id: str, document_id: int
) -> tuple[Document, Path]:
    async with db.connection() as conn:
        document = await repo.get_document(conn, loan_id, document_id)
    if document is None or document.file_path is None:
        raise not_found("Document", document_id)
    path = (root / document.file_path).resolve()
    if not path.is_relative_to((root / "documents").resolve()) or not path.exists():
        raise not_found("Document", document_id)
    return document, path


async def verify(
    db: Database,
    loan_id: str,
    document_id: int,
    status: VerificationStatus,
    verified_by: str | None,
    now: datetime,
) -> Document:
    async with db.transaction() as conn:
        document = await repo.get_document(conn, loan_id, document_id)
        if document is None:
            raise not_found("Document", document_id)
        return await repo.verify_document(conn, document_id, status, verified_by, now)
