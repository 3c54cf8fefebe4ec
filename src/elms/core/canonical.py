"""One canonical request (architecture.md §3): a path that another parser could read as another
path is refused with 400, never normalised. The gateway decides access on the path it received
and forwards exactly those bytes, so the two must be one and the same for every reader: no dot
segments, no encoded slash, dot, backslash or percent sign, no backslash, no empty segment, no
`;` path parameters, no control characters or bytes outside ASCII, and valid percent-encoding.
The query may not carry control characters either (a NUL there would reach the database)."""

from __future__ import annotations

import string
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from elms.core import envelope

_VISIBLE_ASCII = frozenset(range(0x21, 0x7F))
_HEX = frozenset(string.hexdigits.encode())
# Characters whose encoded form would let one reader see a separator where another does not.
_NEVER_ENCODED = frozenset(b"/\\.%;")
_CONTROL = frozenset(range(0x20)) | {0x7F}


def path_problem(raw_path: bytes) -> str | None:
    """Why the path (as sent, percent-encoded) is not canonical; None when it is."""
    if not raw_path.startswith(b"/"):
        return "the path must start with /"
    if not set(raw_path) <= _VISIBLE_ASCII:
        return "the path holds a space, control character or byte outside ASCII"
    if b"\\" in raw_path or b";" in raw_path:
        return "the path holds a backslash or a ; parameter"
    if b"//" in raw_path:
        return "the path holds an empty segment (//)"
    if problem := _encoding_problem(raw_path, _NEVER_ENCODED | _CONTROL):
        return problem
    if any(segment in (b".", b"..") for segment in raw_path.split(b"/")):
        return "the path holds a . or .. segment"
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return "the path's percent-encoding is not UTF-8"
    return None


def query_problem(raw_query: bytes) -> str | None:
    """Why the query string cannot be passed on; None when it can."""
    if not set(raw_query) <= _VISIBLE_ASCII:
        return "the query holds a space, control character or byte outside ASCII"
    return _encoding_problem(raw_query, _CONTROL)


def _encoding_problem(raw: bytes, forbidden: frozenset[int]) -> str | None:
    at = raw.find(b"%")
    while at != -1:
        pair = raw[at + 1 : at + 3]
        if len(pair) != 2 or not set(pair) <= _HEX:
            return "invalid percent-encoding"
        if int(pair, 16) in forbidden:
            return f"%{pair.decode().upper()} may not be encoded here"
        at = raw.find(b"%", at + 3)
    return None


class CanonicalRequest:
    """Refuses a request whose path or query is not canonical, before any route sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            problem = path_problem(raw_path) or query_problem(scope.get("query_string", b""))
            if problem is not None:
                response = envelope.error(
                    400, "NON_CANONICAL_REQUEST", f"Request refused: {problem}"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
