"""The refusals each public route can answer, by status and `error.code`, for the OpenAPI
document (elms.gateway.openapi). Every status here is one the gateway or the service behind it
answers for that route; the contract tests (tests/contract) hold the server to it."""

from __future__ import annotations

from elms.gateway.routes import Body, PublicRoute

# Whatever the route: the request as sent (400), the token (401), the rate limit (429), and a
# service the request needs being down or slow (503, 504).
_EVERY_API_ROUTE = {
    400: ["VALIDATION_ERROR", "MALFORMED_REQUEST", "NON_CANONICAL_REQUEST"],
    401: ["UNAUTHORIZED"],
    404: ["NOT_FOUND"],
    429: ["RATE_LIMITED"],
    503: ["SERVICE_UNAVAILABLE"],
    504: ["GATEWAY_TIMEOUT"],
}
_C = "/api/v1/customers/{customerId}"
_L = "/api/v1/loans/{loanId}"
# Commands that answer a repeat of their Idempotency-Key as they answered it the first time
# (and refuse the key with another body: 422 IDEMPOTENCY_KEY_REUSED).
IDEMPOTENT = {
    ("POST", "/api/v1/customers"),
    ("POST", f"{_C}/addresses"),
    ("POST", f"{_C}/credit/reserve"),
    ("POST", f"{_C}/credit/release"),
    ("POST", "/api/v1/loans"),
    ("POST", f"{_L}/approve"),
    ("POST", f"{_L}/reject"),
    ("POST", f"{_L}/disburse"),
    ("POST", f"{_L}/cancel"),
    ("POST", f"{_L}/documents/{{documentId}}/verify"),
    ("POST", f"{_L}/installments/{{installmentNumber}}/waive-penalty"),
    ("POST", "/api/v1/payments"),
    ("POST", "/api/v1/saga/loan-creation"),
}
# A saga's answer when it did not complete (elms.gateway.saga.views.ended_error): the refusing
# step's own error, or how the saga ended.
_SAGA_ENDINGS = {
    409: ["SAGA_CANCELLED"],
    500: ["SAGA_FAILED"],
    503: ["SERVICE_UNAVAILABLE"],
    504: ["SAGA_TIMEOUT", "GATEWAY_TIMEOUT"],
}
_LOAN_REFUSALS = {
    422: ["CUSTOMER_NOT_ACTIVE", "INSUFFICIENT_CREDIT", "PRODUCT_NOT_AVAILABLE"],
    409: ["CONFLICT"],
}
_PRODUCTS = "/api/v1/loan-products"
_PAYMENT_REFUSALS = {
    409: ["CONFLICT", "DUPLICATE_PAYMENT_REFERENCE", "VERSION_CONFLICT"],
    422: [
        "INVALID_LOAN_STATE",
        "INSTALLMENT_NOT_PAYABLE",
        "PAYMENT_AMOUNT_TOO_LOW",
        "INVALID_PAYMENT_DATE",
    ],
}
_ROUTE_ERRORS: dict[tuple[str, str], dict[int, list[str]]] = {
    ("POST", "/api/v1/customers"): {409: ["DUPLICATE_EMAIL", "DUPLICATE_IDENTIFICATION"]},
    ("PUT", _C): {
        409: ["VERSION_CONFLICT", "DUPLICATE_EMAIL", "DUPLICATE_IDENTIFICATION"],
        422: [
            "CREDIT_LIMIT_BELOW_USAGE",
            "INVALID_STATUS_TRANSITION",
            "CUSTOMER_HAS_ACTIVE_CREDIT",
        ],
    },
    ("PUT", f"{_C}/addresses/{{addressId}}"): {422: ["PRIMARY_ADDRESS_REQUIRED"]},
    ("DELETE", f"{_C}/addresses/{{addressId}}"): {422: ["PRIMARY_ADDRESS_REQUIRED"]},
    ("POST", f"{_C}/credit/reserve"): {422: ["CUSTOMER_NOT_ACTIVE", "INSUFFICIENT_CREDIT"]},
    ("POST", f"{_C}/credit/release"): {422: ["RESERVATION_NOT_ACTIVE", "INVALID_AMOUNT_USED"]},
    ("POST", "/api/v1/loans"): {**_SAGA_ENDINGS, **_LOAN_REFUSALS},
    ("POST", "/api/v1/saga/loan-creation"): {422: ["PRODUCT_NOT_AVAILABLE"]},
    ("POST", "/api/v1/loans/preview"): {422: ["PRODUCT_NOT_AVAILABLE"]},
    ("POST", _PRODUCTS): {409: ["PRODUCT_EXISTS"]},
    ("PUT", f"{_PRODUCTS}/{{productCode}}"): {409: ["VERSION_CONFLICT"]},
    ("POST", f"{_L}/approve"): {422: ["INVALID_LOAN_STATE"], 409: ["VERSION_CONFLICT"]},
    ("POST", f"{_L}/reject"): {422: ["INVALID_LOAN_STATE"], 409: ["VERSION_CONFLICT"]},
    ("POST", f"{_L}/disburse"): {422: ["INVALID_LOAN_STATE"], 409: ["VERSION_CONFLICT"]},
    ("POST", f"{_L}/cancel"): {422: ["INVALID_LOAN_STATE"], 409: ["VERSION_CONFLICT"]},
    ("POST", f"{_L}/documents"): {413: ["PAYLOAD_TOO_LARGE"]},
    ("POST", "/api/v1/payments/calculate"): {
        422: ["INVALID_LOAN_STATE", "INSTALLMENT_NOT_PAYABLE", "PAYMENT_AMOUNT_TOO_LOW"]
    },
    ("POST", "/api/v1/payments"): {**_SAGA_ENDINGS, **_PAYMENT_REFUSALS},
    ("POST", f"{_L}/installments/{{installmentNumber}}/waive-penalty"): {
        422: ["INVALID_LOAN_STATE", "WAIVER_EXCEEDS_PENALTY", "INVALID_WAIVER_DATE"]
    },
    ("GET", f"{_L}/payoff"): {422: ["INVALID_LOAN_STATE"]},
    ("POST", "/api/v1/operations/business-date"): {
        409: ["COB_RUNNING"],
        422: [
            "BUSINESS_DATE_MODE_CALENDAR",
            "BUSINESS_DATE_NOT_FORWARD",
            "BUSINESS_DATE_TOO_FAR",
        ],
    },
    ("POST", "/api/v1/saga/{sagaId}/cancel"): {
        409: ["SAGA_NOT_RUNNING", "SAGA_PAST_POINT_OF_NO_RETURN"]
    },
}


def _add(into: dict[int, list[str]], more: dict[int, list[str]]) -> None:
    for status, codes in more.items():
        into.setdefault(status, [])
        into[status] += [code for code in codes if code not in into[status]]


def errors_of(method: str, template: str, route: PublicRoute | None) -> dict[int, list[str]]:
    """The statuses and codes a route answers besides its success."""
    if route is None:
        # The operational endpoints: the credential (401), and health's DOWN (503).
        # Any path: a query or path that is not canonical (400), and, but for health and info,
        # the credential (401).
        found: dict[int, list[str]] = {400: ["NON_CANONICAL_REQUEST"]}
        if template in ("/actuator/health", "/actuator/info"):
            return found
        found[401] = ["UNAUTHORIZED"]
        if template.startswith("/actuator/outbox/"):
            found[400].append("VALIDATION_ERROR")  # its page, size or event id
        if template == "/actuator/outbox/{event_id}/retry":
            found[404] = ["NOT_FOUND"]
            found[409] = ["OUTBOX_EVENT_NOT_FAILED"]
        if template == "/actuator/circuitbreakers":
            found[503] = ["SERVICE_UNAVAILABLE"]
        return dict(sorted(found.items()))
    found = {}
    _add(found, _EVERY_API_ROUTE)
    if route.scope is not None:
        _add(found, {403: ["FORBIDDEN"]})
    if route.body is Body.JSON:
        _add(found, {413: ["PAYLOAD_TOO_LARGE"], 415: ["UNSUPPORTED_MEDIA_TYPE"]})
    elif route.body is Body.MULTIPART:
        _add(found, {413: ["PAYLOAD_TOO_LARGE"]})
    if method != "GET":
        # Two requests racing past a check: the database's constraint refuses the second.
        _add(found, {409: ["CONFLICT"]})
    if (method, template) in IDEMPOTENT:
        _add(found, {400: ["VALIDATION_ERROR"], 422: ["IDEMPOTENCY_KEY_REUSED"]})
    _add(found, _ROUTE_ERRORS.get((method, template), {}))
    return dict(sorted(found.items()))
