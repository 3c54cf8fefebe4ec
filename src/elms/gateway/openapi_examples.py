"""An example of each request body of the public API, for the OpenAPI document: the README's
walk-through (a customer, credit, a loan, a payment). Identifiers are placeholders."""

from __future__ import annotations

from typing import Any

_C = "/api/v1/customers/{customerId}"
_L = "/api/v1/loans/{loanId}"
_ADDRESS = {
    "addressType": "PRIMARY",
    "street": "1 Analytical Way",
    "city": "London",
    "state": "LDN",
    "zipCode": "N1 9GU",
    "country": "GB",
    "isPrimary": True,
}
_LOAN = {
    "customerId": "CUST-3F9A1C2B7D",
    "loanAmount": "12000.00",
    "interestRate": "0.12",
    "installmentCount": 12,
    "loanType": "PERSONAL",
    "purpose": "Home office",
}

EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/customers"): {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "dateOfBirth": "1985-12-10",
        "creditLimit": "25000.00",
        "creditScore": 760,
        "annualIncome": "120000.00",
        "address": _ADDRESS,
    },
    ("PUT", _C): {"version": 1, "kycStatus": "VERIFIED"},
    ("POST", f"{_C}/addresses"): {**_ADDRESS, "addressType": "MAILING", "isPrimary": False},
    ("PUT", f"{_C}/addresses/{{addressId}}"): {"city": "Cambridge", "zipCode": "CB2 1TN"},
    ("POST", f"{_C}/credit/reserve"): {"amount": "5000.00", "purpose": "PERSONAL_LOAN"},
    ("POST", f"{_C}/credit/release"): {
        "reservationId": "RES-8B2D4E6F1A",
        "reason": "applicant withdrew",
    },
    ("POST", "/api/v1/loans/preview"): {
        "loanAmount": "12000.00",
        "interestRate": "0.12",
        "installmentCount": 12,
    },
    ("POST", "/api/v1/loans"): _LOAN,
    ("POST", f"{_L}/approve"): {"notes": "Income verified"},
    ("POST", f"{_L}/reject"): {"reason": "Debt-to-income ratio too high"},
    ("POST", f"{_L}/disburse"): {},
    ("POST", f"{_L}/cancel"): {"reason": "No longer needed"},
    # A multipart form: the file's bytes (a PDF, PNG or JPEG) in `file`.
    ("POST", f"{_L}/documents"): {"documentType": "INCOME_PROOF", "file": "payslip.pdf"},
    ("POST", f"{_L}/documents/{{documentId}}/verify"): {"status": "VERIFIED"},
    ("POST", "/api/v1/payments/calculate"): {
        "loanId": "LOAN-5C7E9A1B3D",
        "paymentAmount": "1100.00",
    },
    ("POST", "/api/v1/payments"): {
        "loanId": "LOAN-5C7E9A1B3D",
        "paymentAmount": "1100.00",
        "paymentMethod": "BANK_TRANSFER",
    },
    ("POST", "/api/v1/loan-products"): {
        "productCode": "GREEN_AUTO",
        "name": "Green car loan",
        "loanType": "AUTO",
        "minAmount": "5000.00",
        "maxAmount": "60000.00",
        "minRate": "0.05",
        "maxRate": "0.12",
        "installmentCounts": [12, 24, 36],
    },
    ("PUT", "/api/v1/loan-products/{productCode}"): {
        "version": 1,
        "name": "Green car loan",
        "loanType": "AUTO",
        "maxRate": "0.10",
    },
    ("POST", "/api/v1/loans/{loanId}/installments/{installmentNumber}/waive-penalty"): {
        "amount": "12.50",
        "reason": "Bank holiday: the transfer was sent on the due date",
    },
    ("POST", "/api/v1/operations/business-date"): {"date": "2027-01-15"},
    ("POST", "/api/v1/saga/loan-creation"): {
        **_LOAN,
        "sagaTimeout": 300,
        "compensationPolicy": "AUTOMATIC",
    },
}
