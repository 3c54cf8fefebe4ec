"""An HTTP/1.1 client that sends a request exactly as written: the path, the headers and the
body byte for byte, as an attacker's tool does (httpx and curl without --path-as-is would
resolve `..` and re-encode before sending)."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body, parse_float=Decimal) if self.body else None

    @property
    def code(self) -> str | None:
        parsed = self.json
        error = parsed.get("error") if isinstance(parsed, dict) else None
        return error.get("code") if isinstance(error, dict) else None


def send(
    port: int,
    method: str,
    target: bytes | str,
    headers: dict[str, str] | None = None,
    body: bytes | str | dict | None = None,
) -> Answer:
    if isinstance(target, str):
        target = target.encode("latin-1")
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    lines = [
        method.encode() + b" " + target + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Connection: close",
    ]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}".encode("latin-1"))
    if body is not None:
        lines.append(f"Content-Length: {len(body)}".encode())
    request = b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )
