"""ServiceClient against raw sockets: what reached the other side, and how each way a call can
go wrong is told apart (a saga treats "never sent" and "may have acted" differently)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date

import pytest

from elms.core.business_day import BusinessDay
from elms.core.service_client import (
    ServiceClient,
    ServiceInterrupted,
    ServiceTimeout,
    ServiceUnavailable,
)

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server that hands each request's head (request line and headers) to `handler`, and
    keeps every head it saw."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                seen.append(head)
                await handler(head, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()


async def answer(_head: bytes, writer: asyncio.StreamWriter, extra: bytes = b"") -> None:
    writer.write(OK + extra + b"\r\n{}")
    await writer.drain()


def a_closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., ServiceClient]]:
    made: list[ServiceClient] = []

    def make(url: str, timeout_seconds: float = 10.0) -> ServiceClient:
        made.append(ServiceClient({"loan": url}, timeout_seconds, credential="secret"))
        return made[-1]

    yield make
    for client in made:
        await client.close()


async def test_the_path_and_query_arrive_as_the_gateway_received_them(clients):
    async with raw_server(answer) as (url, seen):
        query = "q=a%20b&f=x+y&s=%2F&t=%26%3D"
        got = await clients(url).send("loan", "GET", "/api/v1/loans", params=query)

    assert got.status_code == 200 and got.content == b"{}"
    assert seen[0].startswith(b"GET /api/v1/loans?q=a%20b&f=x+y&s=%2F&t=%26%3D HTTP/1.1\r\n")
    assert b"x-elms-service-token: secret" in seen[0].lower()


async def test_a_call_without_a_body_carries_no_content_type_and_asks_no_compression(clients):
    async with raw_server(answer) as (url, seen):
        await clients(url).send("loan", "POST", "/x")

    assert b"content-type" not in seen[0].lower()
    assert b"accept-encoding" not in seen[0].lower()


async def test_a_closed_client_calls_no_one(clients):
    async with raw_server(answer) as (url, seen):
        client = clients(url)
        await client.close()
        with pytest.raises(ServiceUnavailable):
            await client.send("loan", "GET", "/x")

    assert seen == []


async def test_a_cookie_one_answer_sets_never_rides_on_the_next_call(clients):
    async def with_cookie(head: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(head, writer, b"Set-Cookie: session=theirs; Path=/\r\n")

    async with raw_server(with_cookie) as (url, seen):
        # By name: aiohttp's default jar keeps no cookie of an IP address, so only the client's
        # own choice of jar is tested here.
        client = clients(url.replace("127.0.0.1", "localhost"))
        await client.send("loan", "GET", "/first")
        await client.send("loan", "GET", "/second")

    assert len(seen) == 2
    assert b"cookie" not in seen[1].lower()


async def test_a_refused_connection_tries_the_next_replica(clients):
    async with raw_server(answer) as (url, seen):
        client = clients(f"{a_closed_port()},{url}")
        assert (await client.send("loan", "GET", "/a")).status_code == 200
        assert (await client.send("loan", "GET", "/b")).status_code == 200

    assert len(seen) == 2


async def test_no_replica_reachable_is_unavailable_and_not_uncertain(clients):
    with pytest.raises(ServiceUnavailable) as raised:
        await clients(a_closed_port()).send("loan", "POST", "/x", content=b"{}")

    assert not isinstance(raised.value, ServiceTimeout | ServiceInterrupted)


async def test_a_service_that_takes_the_request_and_never_answers_is_a_timeout(clients):
    answered = asyncio.Event()

    async def never(_head: bytes, _writer: asyncio.StreamWriter) -> None:
        await answered.wait()

    async with raw_server(never) as (url, seen):
        with pytest.raises(ServiceTimeout):
            await clients(url, timeout_seconds=0.3).send("loan", "POST", "/x", content=b"{}")
        answered.set()

    assert len(seen) == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "GET"])
async def test_a_connection_dropped_after_the_request_went_out_is_interrupted_and_not_resent(
    clients, method
):
    async def hang_up(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    async with raw_server(hang_up) as (url, seen):
        with pytest.raises(ServiceInterrupted):
            await clients(url).send("loan", method, "/x", content=b"{}")

    assert len(seen) == 1


async def test_only_a_business_date_learnt_is_passed_on():
    """Manual mode: a service that has not learnt the date yet must not pass on the calendar's
    stand-in (the one it calls would take it for the business date); once it has, it does."""
    business = BusinessDay("manual")
    client = ServiceClient({"loan": ""}, credential="secret", business=business)
    try:
        async with raw_server(answer) as (url, seen):
            client.replicas["loan"] = [url]
            await client.send("loan", "GET", "/x")
            business.learn(date(2025, 3, 1))
            await client.send("loan", "GET", "/x")
    finally:
        await client.close()
    assert b"x-elms-business-date" not in seen[0].lower()
    assert b"x-elms-business-date: 2025-03-01" in seen[1].lower()
