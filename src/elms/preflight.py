"""What `elms up` and `elms token` check before they touch anything: that no other `elms up`
holds the data directory, that the ports the services need are free, and that an ELMS runs on
the data directory a token is minted for.

Without these, a second `elms up` reported "ELMS is running" while its services failed to bind
(the first one's answered its readiness probe), and `elms token` on a data directory no ELMS
used created a database cluster and a signing key of its own, minting tokens no gateway
accepts."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from elms.core import embedded
from elms.core.cluster import uses_embedded
from elms.core.config import Settings
from elms.gateway.keys import PRIVATE_KEY_FILE

LOCK_FILE = "elms-up.lock"


class Refused(Exception):
    """Why the command must not go on; the message is for the operator."""


@contextmanager
def holding_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold the data directory for this process's life, or refuse if another `elms up` holds
    it. The lock is the kernel's (flock): it goes with the process however it ends, so a
    killed `elms up` leaves nothing stale behind."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise Refused(
                f"Another ELMS (pid {holder}) is running on the data directory {data_dir}. "
                "Stop it first, or give this one its own ELMS_DATA_DIR."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def taken_ports(host: str, ports: dict[str, int]) -> list[str]:
    """Each service whose port on `host` cannot be listened on, said in a sentence."""
    problems = []
    owners: dict[int, str] = {}
    for service, port in ports.items():
        if port in owners:
            problems.append(f"the {service} and the {owners[port]} are both given port {port}")
            continue
        owners[port] = service
        reason = _cannot_listen(host, port)
        if reason:
            problems.append(f"port {port} on {host}, which the {service} needs, {reason}")
    return problems


def _cannot_listen(host: str, port: int) -> str | None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        return f"cannot be used: {host} is not an address of this machine ({error.strerror})"
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "is already in use (another ELMS, or another program)"
            return f"cannot be used: {error.strerror}"
    return None


def refuse_taken_ports(settings: Settings, services: list[str]) -> None:
    problems = taken_ports(settings.host, {name: settings.port_of(name) for name in services})
    if problems:
        raise Refused(
            "ELMS cannot start: "
            + "; ".join(problems)
            + ". Free the port, or choose another with ELMS_<SERVICE>_PORT"
            " (e.g. ELMS_GATEWAY_PORT)."
        )


def refuse_unless_running(settings: Settings) -> None:
    """A token is signed with the key in the data directory and recorded in the database
    there: refuse when no ELMS has made that key, or when the embedded database it would be
    recorded in is not running, rather than start a cluster and a key of its own."""
    data_dir = settings.data_dir
    advice = (
        "Start ELMS with `elms up`, or set ELMS_DATA_DIR to the data directory it printed "
        "when it started."
    )
    if not (data_dir / PRIVATE_KEY_FILE).exists():
        raise Refused(f"No ELMS has run on the data directory {data_dir}. {advice}")
    if uses_embedded(settings, ["gateway"]) and not _embedded_running(data_dir):
        raise Refused(f"No ELMS is running on the data directory {data_dir}. {advice}")


def _embedded_running(data_dir: Path) -> bool:
    # The package warns of a missing XDG_RUNTIME_DIR on import, and picks a fine fallback
    # (elms.core.embedded): no news to someone asking for a token.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return embedded.is_running(data_dir)
