"""The `elms` command: up | serve | migrate | token | demo | reconcile | backup | restore |
db-stats | openapi."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from elms.core import cluster
from elms.core.config import SERVICES, Settings
from elms.core.migrator import prepare
from elms.core.observability import configure_logging
from elms.services import APPLICATIONS, app_factory

app = typer.Typer(help="ELMS, the Enterprise Loan Management System.", no_args_is_help=True)


async def _prepare(settings: Settings, services: list[str]) -> dict[str, str]:
    """Provision and migrate the services' schemas; return each service's own database URL."""
    admin = cluster.admin_url(settings, services)
    secret = cluster.role_secret(settings)
    dsns = {}
    for service in services:
        database = cluster.service_database(settings, service, admin)
        await prepare(database, secret)
        dsns[service] = database.dsn
    return dsns


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'ELMS_' + '_'.join(map(str, e['loc'])).upper() if e['loc'] else 'settings'}: "
            f"{e['msg']}"
            for e in error.errors()
        )
        typer.echo(f"The configuration is refused: {problems}", err=True)
        raise typer.Exit(2) from error
    configure_logging(settings.log_level, settings.log_json)
    return settings


def _refused_or_exit(check: Callable[[], Any]) -> Any:
    """What `check` gives, or its refusal printed (stderr) and exit code 1."""
    from elms.preflight import Refused

    try:
        return check()
    except Refused as refusal:
        typer.echo(str(refusal), err=True)
        raise typer.Exit(1) from refusal


@app.command()
def up() -> None:
    """Run the whole system: database (embedded unless configured), migrations, every service.
    Refuses (exit 1) when another `elms up` runs on the data directory or a port is taken."""
    from elms.preflight import holding_data_dir, refuse_taken_ports
    from elms.supervisor import Supervisor

    settings = _settings()
    print(f"ELMS data directory: {settings.data_dir}", flush=True)
    with ExitStack() as held:
        # Held until the supervisor is done: the data directory is this ELMS's alone.
        _refused_or_exit(lambda: held.enter_context(holding_data_dir(settings.data_dir)))
        _refused_or_exit(lambda: refuse_taken_ports(settings, list(APPLICATIONS)))
        dsns = asyncio.run(_prepare(settings, list(SERVICES)))
        running = {name: dsn for name, dsn in dsns.items() if name in APPLICATIONS}
        embedded_db = cluster.uses_embedded(settings, list(SERVICES))
        code = asyncio.run(Supervisor(settings, running, embedded_db).run())
    if code:
        raise typer.Exit(code)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="customer")],
    port: Annotated[int | None, typer.Option(help="Port (default: the service's own)")] = None,
) -> None:
    """Run one service alone (how it is deployed at scale)."""
    import uvicorn

    from elms.core.service_client import SERVER_KEEP_ALIVE_SECONDS

    if service not in APPLICATIONS:
        raise typer.BadParameter(f"one of {', '.join(APPLICATIONS)}", param_hint="SERVICE")
    settings = _settings()
    dsn = asyncio.run(_prepare(settings, [service]))[service]
    uvicorn.run(
        app_factory(service)(settings, dsn),
        host=settings.host,
        port=port or settings.port_of(service),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        # The client is the socket's peer; the gateway alone decides which proxies to believe
        # (ELMS_TRUSTED_PROXIES), where uvicorn would trust any X-Forwarded-For from loopback.
        proxy_headers=False,
        # Longer than the callers keep an idle connection (elms.core.service_client).
        timeout_keep_alive=SERVER_KEEP_ALIVE_SECONDS,
    )


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="The user the token is for")],
    role: Annotated[str, typer.Option(help="CUSTOMER, LOAN_OFFICER or ADMIN")] = "LOAN_OFFICER",
    customer_id: Annotated[str | None, typer.Option(help="Required for CUSTOMER")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds")] = 3600,
) -> None:
    """Mint a token with the gateway's local key and record its session (revocable by logout),
    for the ELMS running on the data directory; refuses (exit 1) when none runs there."""
    from elms.gateway.tokens import Role

    try:
        chosen = Role(role.upper())
    except ValueError as error:
        raise typer.BadParameter(
            "one of CUSTOMER, LOAN_OFFICER, ADMIN", param_hint="--role"
        ) from error
    if chosen is Role.CUSTOMER and not customer_id:
        raise typer.BadParameter("a CUSTOMER token needs --customer-id")
    if ttl <= 0:
        raise typer.BadParameter("must be positive", param_hint="--ttl")
    print(_mint(_settings(), sub, chosen, customer_id, ttl))


def _mint(settings: Settings, subject: str, role: Any, customer_id: str | None, ttl: int) -> str:
    from elms.core.database import Database, PoolConfig
    from elms.gateway.auth import issue_token
    from elms.preflight import refuse_unless_running

    _refused_or_exit(lambda: refuse_unless_running(settings))

    async def minted() -> str:
        dsn = (await _prepare(settings, ["gateway"]))["gateway"]
        config = PoolConfig.for_service(SERVICES["gateway"], settings)
        db = await Database.open(dsn, "banking_gateway", "gateway", config)
        try:
            return await issue_token(
                db,
                settings,
                subject=subject,
                role=role,
                customer_id=customer_id,
                ttl=timedelta(seconds=ttl),
            )
        finally:
            await db.close()

    return asyncio.run(minted())


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON")] = False,
    gateway_url: Annotated[str | None, typer.Option(help="Default: this machine's gateway")] = None,
) -> None:
    """Against a running system (`elms up`): customers, loans through their sagas (approved at
    once, approved by an officer, refused and compensated), payments late, on time and early, a
    loan paid off; then a summary of what the services hold."""
    import httpx

    from elms.core import jsoncodec
    from elms.demo import DemoFailed, Gateway, render, run, summary
    from elms.gateway.tokens import Role

    settings = _settings()
    token = _mint(settings, "demo-officer", Role.LOAN_OFFICER, None, 3600)
    admin_token = _mint(settings, "demo-admin", Role.ADMIN, None, 3600)
    url = gateway_url or settings.service_urls()["gateway"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        api = Gateway(http, admin_token)
        try:
            # The system's business date, not this machine's.
            day = date.fromisoformat(api.call("GET", BUSINESS_DATE)["businessDate"])
            facts = summary(api, run(api, day))
        except (DemoFailed, httpx.TransportError) as error:
            print(f"The demo stopped: {error}")
            raise typer.Exit(1) from error
    print(jsoncodec.dumps(facts) if as_json else render(facts))


BUSINESS_DATE = "/api/v1/operations/business-date"
# How often `elms cob` asks how far close of business has come.
COB_POLL_SECONDS = 0.5


@app.command()
def cob(
    until: Annotated[str, typer.Option("--until", help="The business date to reach (YYYY-MM-DD)")],
    gateway_url: Annotated[str | None, typer.Option(help="Default: this machine's gateway")] = None,
) -> None:
    """Manual business-date mode: close of business for each day from the business date up to the
    day before UNTIL, then the business date is UNTIL. Against a running system, as an
    administrator; a close interrupted (a crash) is resumed, never done twice."""
    import time

    import httpx

    from elms.gateway.tokens import Role

    settings = _settings()
    try:
        target = date.fromisoformat(until)
    except ValueError as error:
        raise typer.BadParameter(f"not a date: {until!r}", param_hint="--until") from error
    token = _mint(settings, "cob-operator", Role.ADMIN, None, 3600)
    url = gateway_url or settings.service_urls()["gateway"]
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        start = http.get(BUSINESS_DATE).raise_for_status().json()["data"]["businessDate"]
        moved = http.post(BUSINESS_DATE, json={"date": target.isoformat()})
        if moved.status_code not in (200, 202):
            problem = moved.json().get("error") or {}
            print(f"Refused ({moved.status_code} {problem.get('code')}): {problem.get('message')}")
            raise typer.Exit(1)
        state = moved.json()["data"]
        while date.fromisoformat(state["businessDate"]) < target:
            time.sleep(COB_POLL_SECONDS)
            state = http.get(BUSINESS_DATE).raise_for_status().json()["data"]
        runs = http.get("/api/v1/operations/cob-runs", params={"size": 100}).json()["data"]
    for run in reversed(runs["content"]):
        if not start <= run["date"] < target.isoformat():
            continue
        print(
            f"  closed {run['date']}: {run['loansProcessed']} loans,"
            f" {run['installmentsOverdue']} installments overdue,"
            f" {run['bucketChanges']} bucket moves"
        )
    print(f"The business date is {state['businessDate']}.")


@app.command()
def migrate(
    services: Annotated[list[str] | None, typer.Argument(help="Default: all four")] = None,
) -> None:
    """Create the roles and schemas and apply pending migrations; a second run changes nothing."""
    settings = _settings()
    chosen = services or list(SERVICES)
    unknown = set(chosen) - set(SERVICES)
    if unknown:
        raise typer.BadParameter(f"unknown: {', '.join(sorted(unknown))}")
    asyncio.run(_prepare(settings, chosen))
    print(f"Schemas ready: {', '.join(SERVICES[s].schema for s in chosen)}")


def _admin(settings: Settings) -> str:
    admin = cluster.admin_url(settings, list(SERVICES))
    if admin is None:
        raise typer.BadParameter(
            "every service has its own database URL; set ELMS_DATABASE_URL to an administrator's"
        )
    return admin


@app.command()
def reconcile(
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON")] = False,
) -> None:
    """Check the books of all four services against each other (architecture.md §4 invariants);
    exits 1 when any invariant is violated. Needs the administrator's database URL: the embedded
    server's, or ELMS_DATABASE_URL."""
    from elms.core import jsoncodec
    from elms.reconcile import Limits, render
    from elms.reconcile import reconcile as check

    settings = _settings()
    report = asyncio.run(check(_admin(settings), Limits(settings.non_performing_days)))
    print(jsoncodec.dumps(report.wire()) if as_json else render(report))
    if not report.balanced:
        raise typer.Exit(1)


def _running_services(settings: Settings) -> list[str]:
    """The services that answer on their configured addresses."""
    import httpx

    answering = []
    for name, urls in settings.service_urls().items():
        for url in urls.split(","):
            try:
                httpx.get(f"{url.strip()}/actuator/health", timeout=1.0)
            except httpx.HTTPError:
                continue
            answering.append(name)
            break
    return answering


def _files_or_exit(work: Callable[[], list[Path]], done: str, failed: str) -> None:
    from elms.backup import BackupFailed

    try:
        files = work()
    except BackupFailed as error:
        print(f"{failed}: {error}")
        raise typer.Exit(1) from error
    print("\n".join([f"{done}:", *(f"  {f}" for f in files)]))


@app.command()
def backup(
    to: Annotated[
        Path | None,
        typer.Option(help="Directory for the dumps; default: <data dir>/backups/<UTC time>"),
    ] = None,
) -> None:
    """Write one `pg_dump --format=custom` file per schema (api.md §7) and a copy of the loans'
    documents. Each dump is consistent in itself; take a backup of the four together while the
    system is quiet or stopped."""
    from elms.backup import backup as write
    from elms.core.clock import utcnow

    settings = _settings()
    directory = to or settings.data_dir / "backups" / utcnow().strftime("%Y%m%dT%H%M%SZ")
    _files_or_exit(
        lambda: write(_admin(settings), directory, settings.data_dir),
        "Backup written",
        "Backup failed",
    )


@app.command()
def restore(
    directory: Annotated[Path, typer.Argument(help="A directory `elms backup` wrote")],
) -> None:
    """Replace the four schemas with a backup, all in one transaction, then the documents.
    ELMS must be stopped."""
    from elms.backup import restore as read

    settings = _settings()
    running = _running_services(settings)
    if running:
        print(f"Stop ELMS first: {', '.join(running)} answering. Nothing was restored.")
        raise typer.Exit(1)
    _files_or_exit(
        lambda: read(_admin(settings), directory, settings.data_dir),
        "Restored",
        "Restore failed, nothing was changed",
    )


@app.command("db-stats")
def db_stats(
    as_json: Annotated[bool, typer.Option("--json", help="The rows as JSON")] = False,
) -> None:
    """Size and row activity of every table of the four schemas (the
    `database_performance_metrics` view)."""
    from elms.core import jsoncodec
    from elms.dbstats import read, render

    rows = asyncio.run(read(_admin(_settings())))
    print(jsoncodec.dumps(rows) if as_json else render(rows))


@app.command()
def openapi() -> None:
    """Print the public API's OpenAPI 3.1 document, as the gateway serves it at /openapi.json
    (`elms openapi > docs/openapi.json` regenerates the committed copy)."""
    from elms.gateway.openapi import render

    print(render(), end="")
