"""The services ELMS runs, in start order, and how to build each one's application."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from fastapi import FastAPI

from elms.core.config import Settings

# Every schema is migrated; a service listed here also has an application to serve.
APPLICATIONS: dict[str, str] = {
    "customer": "elms.customer.app",
    "loan": "elms.loan.app",
    "payment": "elms.payment.app",
    "gateway": "elms.gateway.app",
}


def app_factory(service: str) -> Callable[[Settings, str], FastAPI]:
    return import_module(APPLICATIONS[service]).create_app
