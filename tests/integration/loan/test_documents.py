"""Loan documents: recognised by content, stored under generated names, size-limited."""

from __future__ import annotations

import pytest

from tests.integration.loan.conftest import body, loan_request, new_customer

PDF = b"%PDF-1.7\n" + b"0" * 2048
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 512


@pytest.fixture
async def loan_id(system):
    customer = await new_customer(system.customer.client, tag="docs")
    created = await system.loan.client.post(
        "/api/v1/loans", json=loan_request(customer["customerId"])
    )
    return body(created)["data"]["loanId"]


async def _upload(client, loan_id, name, content, document_type="INCOME_PROOF"):
    return await client.post(
        f"/api/v1/loans/{loan_id}/documents",
        data={"documentType": document_type},
        files={"file": (name, content, "application/octet-stream")},
    )


async def test_a_pdf_is_stored_listed_downloaded_and_verified(system, loan_id):
    client = system.loan.client
    uploaded = await _upload(client, loan_id, "../../etc/passwd.pdf", PDF)
    assert uploaded.status_code == 201, uploaded.text
    document = body(uploaded)["data"]
    assert document["mimeType"] == "application/pdf"
    assert document["fileSize"] == len(PDF)
    assert "/" not in document["documentName"] and ".." not in document["documentName"]

    listed = body(await client.get(f"/api/v1/loans/{loan_id}/documents"))["data"]
    assert [d["documentId"] for d in listed] == [document["documentId"]]

    content = await client.get(
        f"/api/v1/loans/{loan_id}/documents/{document['documentId']}/content"
    )
    assert content.status_code == 200
    assert content.content == PDF
    assert content.headers["content-type"] == "application/pdf"

    verified = await client.post(
        f"/api/v1/loans/{loan_id}/documents/{document['documentId']}/verify",
        json={"status": "VERIFIED", "verifiedBy": "officer-7"},
    )
    assert body(verified)["data"]["verificationStatus"] == "VERIFIED"
    stored = list((system.settings.data_dir / "documents" / loan_id).iterdir())
    assert len(stored) == 1 and stored[0].suffix == ".pdf" and "passwd" not in stored[0].name


async def test_a_file_named_pdf_that_is_not_one_is_refused(system, loan_id):
    refused = await _upload(system.loan.client, loan_id, "statement.pdf", b"MZ\x90\x00 not a pdf")
    assert refused.status_code == 400
    assert body(refused)["error"]["details"][0]["field"] == "file"


async def test_a_png_is_recognised_by_its_content_whatever_its_name(system, loan_id):
    uploaded = await _upload(system.loan.client, loan_id, "scan.pdf", PNG)
    assert body(uploaded)["data"]["mimeType"] == "image/png"


async def test_a_file_over_the_limit_is_refused_and_nothing_is_kept(system, loan_id):
    system.loan.app.state.settings = system.settings.model_copy(
        update={"documents_max_bytes": 1024}
    )
    refused = await _upload(system.loan.client, loan_id, "big.pdf", PDF)
    assert refused.status_code == 413
    assert body(refused)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert body(await system.loan.client.get(f"/api/v1/loans/{loan_id}/documents"))["data"] == []
    folder = system.settings.data_dir / "documents" / loan_id
    assert not folder.exists() or list(folder.iterdir()) == []


async def test_documents_of_an_unknown_loan_are_404(system):
    response = await _upload(system.loan.client, "LOAN-NOPE", "a.pdf", PDF)
    assert response.status_code == 404


async def test_an_unknown_verification_status_is_400(system, loan_id):
    document = body(await _upload(system.loan.client, loan_id, "a.pdf", PDF))["data"]
    response = await system.loan.client.post(
        f"/api/v1/loans/{loan_id}/documents/{document['documentId']}/verify",
        json={"status": "MAYBE"},
    )
    assert response.status_code == 400
