"""`python -m bench.http_clients`: the CPU one call between services costs the caller, with
ELMS's ServiceClient (aiohttp) and with an httpx client set up as ServiceClient's was before
(one pool per service: 100 connections, 16 kept alive). A server in its own process answers
with a loan-sized JSON body; only the calling process's CPU time is counted.

    .venv/bin/python -m bench.http_clients --calls 3000 --concurrency 16
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import httpx
import typer

from elms.core.service_client import ServiceClient

app = typer.Typer(add_completion=False)

_SERVER = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

ROW = b'{"installmentNumber":1,"totalAmount":"527.43","status":"PENDING"}'
BODY = b'{"success":true,"data":{"loanId":"LN-1","installments":[' + b",".join([ROW] * 12) + b"]}}"

async def answer(request):
    await request.body()
    return Response(BODY, media_type="application/json")

app = Starlette(routes=[Route("/call", answer, methods=["POST"])])
uvicorn.run(app, port=int(sys.argv[1]), log_level="warning", access_log=False)
"""
PAYLOAD = b'{"customerId":"CUST-1","amount":"6000.00","purpose":"LOAN"}'
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _cpu_per_call(call: Callable[[], Awaitable[None]], calls: int, concurrency: int):
    """Microseconds of this process's CPU per call, and calls per second, after a warm-up."""
    for _ in range(100):
        await call()
    remaining = iter(range(calls))

    async def worker() -> None:
        for _ in remaining:
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / calls * 1e6, calls / wall


async def _measure(url: str, calls: int, concurrency: int) -> dict[str, tuple[float, float]]:
    found = {}
    services = ServiceClient({"loan": url}, credential="bench")
    try:

        async def elms_call() -> None:
            await services.send("loan", "POST", "/call", content=PAYLOAD, headers=HEADERS)

        found["ServiceClient (aiohttp)"] = await _cpu_per_call(elms_call, calls, concurrency)
    finally:
        await services.close()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=16)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def httpx_call() -> None:
            answer = await client.post(url + "/call", content=PAYLOAD, headers=HEADERS)
            answer.raise_for_status()

        found["httpx.AsyncClient"] = await _cpu_per_call(httpx_call, calls, concurrency)
    return found


async def _server_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                await client.post(url + "/call")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)  # the server process is starting
    raise RuntimeError("the server did not start")


@app.command()
def main(
    calls: Annotated[int, typer.Option(help="Calls per client library")] = 3000,
    concurrency: Annotated[int, typer.Option(help="Calls in flight at once")] = 16,
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)])
    try:
        asyncio.run(_server_up(url))
        found = asyncio.run(_measure(url, calls, concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{calls} calls, {concurrency} at once, caller's CPU only")
    for name, (cpu, rate) in found.items():
        print(f"  {name:<24} {cpu:8.0f} µs CPU per call {rate:9.0f} calls/s")


if __name__ == "__main__":
    app()
