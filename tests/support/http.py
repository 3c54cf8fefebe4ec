"""Running a service for a test: a real uvicorn server on a loopback port, in the test's loop."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from elms.core.service_client import SERVER_KEEP_ALIVE_SECONDS


@asynccontextmanager
async def serving(app: FastAPI, port: int = 0) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL. Returns once the app's lifespan
    has started and the socket accepts connections, so no test ever waits on a timer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_keep_alive=SERVER_KEEP_ALIVE_SECONDS,
        proxy_headers=False,  # as `elms serve` runs
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.shutdown(sockets=[sock])
        sock.close()
