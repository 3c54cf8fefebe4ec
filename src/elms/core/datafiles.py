"""Files ELMS makes once in its data directory (secrets, keys), safely when several processes
start at the same moment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_once(path: Path, content: bytes) -> bytes:
    """Write `content` to `path` (mode 0600) unless it exists; return what the file holds.

    The content is written whole to a temporary file and linked into place, so of several
    processes one wins, and no one ever reads a half-written file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f".{path.name}-{secrets.token_hex(8)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    held = path.read_bytes()
    if not held.strip():
        raise RuntimeError(f"{path} is empty; remove it so that it is made again")
    return held
