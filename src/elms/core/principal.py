"""Who a service is serving (architecture.md §3): the user the gateway authenticated, passed with
the internal credential, so that each service enforces ownership and officer-only actions itself
and no single layer's mistake exposes another customer's data. Pure.

A request that carries no role is a service's own call (a saga step, an outbox delivery, an
operator with the credential): only holders of the internal credential reach a service at all,
and the gateway sets the role on every request it forwards for a client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from elms.core.errors import DomainError, not_found

USER_HEADER = "x-elms-user"
ROLE_HEADER = "x-elms-role"
CUSTOMER_HEADER = "x-elms-customer"
PRINCIPAL_HEADERS = (USER_HEADER, ROLE_HEADER, CUSTOMER_HEADER)


class Role(StrEnum):
    CUSTOMER = "CUSTOMER"
    LOAN_OFFICER = "LOAN_OFFICER"
    ADMIN = "ADMIN"


def forbidden(message: str) -> DomainError:
    return DomainError(message, code="FORBIDDEN", status=403)


@dataclass(frozen=True)
class Caller:
    subject: str | None
    role: Role | None  # None: another service of ELMS
    customer_id: str | None

    @property
    def is_customer(self) -> bool:
        return self.role is Role.CUSTOMER

    def headers(self) -> dict[str, str]:
        """What the gateway sends along with a request it forwards for this user."""
        sent = {USER_HEADER: self.subject or "", ROLE_HEADER: self.role.value if self.role else ""}
        if self.customer_id:
            sent[CUSTOMER_HEADER] = self.customer_id
        return sent

    def require_officer(self, what: str = "This is for officers") -> None:
        if self.is_customer:
            raise forbidden(what)

    def require_own(self, customer_id: object, what: str, identifier: object) -> None:
        """A customer's request naming someone else's resource finds nothing (404), as if it did
        not exist: the answer must not tell a customer which ids are in use."""
        if self.is_customer and customer_id != self.customer_id:
            raise not_found(what, identifier)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Caller:
        """A role ELMS does not know, or a customer without their customer id, is refused
        outright rather than read as a service's own call."""
        subject = headers.get(USER_HEADER) or None
        role_name = headers.get(ROLE_HEADER) or None
        customer_id = headers.get(CUSTOMER_HEADER) or None
        if role_name is None:
            if customer_id is not None:
                raise forbidden("A customer id without a role")
            return cls(subject, None, None)
        try:
            role = Role(role_name)
        except ValueError as error:
            raise forbidden("Unknown role") from error
        if role is Role.CUSTOMER and customer_id is None:
            raise forbidden("A customer's request must name its customer")
        return cls(subject, role, customer_id if role is Role.CUSTOMER else None)


SERVICE = Caller(None, None, None)
