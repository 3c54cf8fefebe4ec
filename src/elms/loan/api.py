"""Routes of the loan service (api.md §3): parse, call one service function, answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, File, Form, Query, Request, UploadFile
from starlette.responses import FileResponse, Response

from elms.core import envelope, idempotency
from elms.core.business_day import today
from elms.core.clock import utcnow
from elms.core.envelope import Envelope
from elms.core.principal import forbidden
from elms.core.schemas import Day, Page
from elms.core.web import (
    OFFICERS_ONLY,
    OWN_CUSTOMER,
    SERVICES_ONLY,
    Call,
    CallDep,
    CallerDep,
    PageNumber,
    PageSize,
    SerialId,
    router,
)
from elms.loan import document_service, service
from elms.loan.documents import EXTENSIONS, VerificationStatus
from elms.loan.domain import LoanStatus, LoanType
from elms.loan.repository import Document, Loan
from elms.loan.responses import (
    DelinquencyMoveOut,
    LoanDetailsOut,
    PayoffOut,
    PreviewOut,
    ScheduleOut,
    WaiverOut,
)
from elms.loan.schemas import (
    PRODUCT,
    ApplyPaymentRequest,
    ApproveRequest,
    CancelRequest,
    DisburseRequest,
    DocumentOut,
    DocumentType,
    LoanOut,
    LoanRequest,
    PreviewRequest,
    RejectRequest,
    SagaLoanRequest,
    VerifyDocumentRequest,
    WaivePenaltyRequest,
)

# Who may do what (architecture.md §3), declared on each route: the list of every loan and the
# officers' moves (approve, reject, disburse, verify) are for officers; a customer reaches only
# their own loans (`OWN_LOAN`) and applies only for themselves; the internal routes serve ELMS's
# own services. A service's call (no role) is never restricted.
loans = router("/api/v1/loans", tags=["loans"])
internal = router(
    "/internal/v1", tags=["internal"], include_in_schema=False, dependencies=[SERVICES_ONLY]
)


async def _own_loan(loan_id: str, caller: CallerDep, call: CallDep) -> None:
    """A customer's request for someone else's loan finds nothing, as for a loan that does not
    exist; officers and services go on to the route, which answers a missing loan itself."""
    if caller.is_customer:
        caller.require_own(await service.loan_owner(call.db, loan_id), "Loan", loan_id)


OWN_LOAN = Depends(_own_loan)
# A document's content is served as the type its bytes proved on upload.
_FILE_TYPES = {mime: {"schema": {"type": "string", "format": "binary"}} for mime in EXTENSIONS}


def _loan(loan: Loan) -> dict[str, Any]:
    return LoanOut.model_validate(loan, from_attributes=True).wire()


async def _product_ranges(request: Request, call: CallDep) -> None:
    """Dependencies run before the body is validated: the product the body names is looked up
    first, so a value outside its ranges is reported together with every other field problem."""
    PRODUCT.set(await service.product_named(call.db, await request.body()))


PRODUCT_RANGES = Depends(_product_ranges)


@loans.post("/preview", dependencies=[PRODUCT_RANGES], response_model=Envelope[PreviewOut])
async def preview_loan(body: PreviewRequest, call: CallDep) -> Response:
    product = await service.product_for(call.db, body)
    schedule = service.preview(body, product, today())
    return envelope.success(PreviewOut.of(schedule, body, product), "Schedule preview")


async def _create(request: SagaLoanRequest, call: Call) -> Response:
    now = utcnow()
    # The customer is read before the Idempotency-Key is claimed, so no transaction is open
    # while the customer service answers; a failed read is raised inside the work, so a key
    # already answered replays its loan whatever the customer service says now.
    applicant = await idempotency.read_first(lambda: service.read_applicant(call.services, request))

    async def work() -> dict[str, Any]:
        view, _ = await service.create_loan(call.db, call.settings, request, now, applicant)
        return LoanDetailsOut.of(view, call.settings.non_performing_days)

    return await call.answer(work, "Loan application created", 201)


@loans.post(
    "", status_code=201, dependencies=[PRODUCT_RANGES], response_model=Envelope[LoanDetailsOut]
)
async def create_loan(body: LoanRequest, call: CallDep, caller: CallerDep) -> Response:
    if caller.is_customer and body.customer_id != caller.customer_id:
        raise forbidden("A customer applies for their own loans")
    # The public request, with no saga and no applicant seen: already validated, read by name.
    return await _create(SagaLoanRequest.model_validate(body.model_dump(), by_name=True), call)


@internal.post(
    "/loans/validate", dependencies=[PRODUCT_RANGES], response_model=Envelope[LoanRequest]
)
async def validate_loan(body: LoanRequest, call: CallDep) -> Response:
    """The gateway's check of a loan request before it starts a saga: 400 with every problem
    (outside its product's ranges, the schedule's total within NUMERIC(15,2) too), 404 or 422
    for a product not offered, or the request as the saga will send it."""
    service.preview(body, await service.product_for(call.db, body), today())
    return envelope.success(body.wire(), "Loan request is valid")


@internal.post(
    "/loans",
    status_code=201,
    dependencies=[PRODUCT_RANGES],
    response_model=Envelope[LoanDetailsOut],
)
async def create_loan_for_saga(body: SagaLoanRequest, call: CallDep) -> Response:
    return await _create(body, call)


@loans.get("", dependencies=[OFFICERS_ONLY], response_model=Envelope[Page[LoanOut]])
async def list_loans(
    call: CallDep,
    status: LoanStatus | None = None,
    loan_type: Annotated[LoanType | None, Query(alias="loanType")] = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    found, total = await service.list_loans(call.db, None, status, loan_type, page, size)
    return envelope.success(
        Page[dict].of([_loan(x) for x in found], page, size, total).wire(), "Loans"
    )


@loans.get(
    "/customer/{customer_id}",
    dependencies=[OWN_CUSTOMER],
    response_model=Envelope[Page[LoanOut]],
)
async def customer_loans(
    customer_id: str,
    call: CallDep,
    status: LoanStatus | None = None,
    loan_type: Annotated[LoanType | None, Query(alias="loanType")] = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    found, total = await service.list_loans(call.db, customer_id, status, loan_type, page, size)
    return envelope.success(
        Page[dict].of([_loan(x) for x in found], page, size, total).wire(), "Customer loans"
    )


@loans.get("/{loan_id}", dependencies=[OWN_LOAN], response_model=Envelope[LoanDetailsOut])
async def get_loan(loan_id: str, call: CallDep) -> Response:
    view = await service.get_loan(call.db, loan_id)
    return envelope.success(LoanDetailsOut.of(view, call.settings.non_performing_days), "Loan")


@loans.get("/{loan_id}/installments", dependencies=[OWN_LOAN], response_model=Envelope[ScheduleOut])
async def get_installments(loan_id: str, call: CallDep) -> Response:
    return envelope.success(
        ScheduleOut.of(await service.get_loan(call.db, loan_id)), "Installments"
    )


@loans.get("/{loan_id}/payoff", dependencies=[OWN_LOAN], response_model=Envelope[PayoffOut])
async def payoff(
    loan_id: str, call: CallDep, on: Annotated[Day | None, Query(alias="date")] = None
) -> Response:
    """What closing the loan takes on `date` (the business date by default; never before it)."""
    quote = await service.payoff_quote(call.db, loan_id, on)
    return envelope.success(PayoffOut.of(loan_id, quote), "Payoff quote")


async def _move(
    call: Call, move: Callable[..., Awaitable[Loan]], loan_id: str, body: Any, message: str
) -> Response:
    """A lifecycle move, answered idempotently when an Idempotency-Key is given."""

    async def work() -> dict[str, Any]:
        return _loan(await move(call.db, loan_id, body, utcnow()))

    return await call.answer(work, message)


@loans.post("/{loan_id}/approve", dependencies=[OFFICERS_ONLY], response_model=Envelope[LoanOut])
async def approve(loan_id: str, body: ApproveRequest, call: CallDep) -> Response:
    officer = body.model_copy(update={"officer_id": call.acting_user(body.officer_id)})
    return await _move(call, service.approve_loan, loan_id, officer, "Loan approved")


@loans.post("/{loan_id}/reject", dependencies=[OFFICERS_ONLY], response_model=Envelope[LoanOut])
async def reject(loan_id: str, body: RejectRequest, call: CallDep) -> Response:
    officer = body.model_copy(update={"officer_id": call.acting_user(body.officer_id)})
    return await _move(call, service.reject_loan, loan_id, officer, "Loan rejected")


@loans.post("/{loan_id}/cancel", dependencies=[OWN_LOAN], response_model=Envelope[LoanOut])
async def cancel(loan_id: str, body: CancelRequest, call: CallDep) -> Response:
    return await _move(call, service.cancel_loan, loan_id, body, "Loan cancelled")


@loans.post("/{loan_id}/disburse", dependencies=[OFFICERS_ONLY], response_model=Envelope[LoanOut])
async def disburse(loan_id: str, body: DisburseRequest, call: CallDep) -> Response:
    return await _move(call, service.disburse_loan, loan_id, body, "Loan disbursed")


@internal.post("/loans/{loan_id}/payments", response_model=Envelope[dict[str, Any]])
async def apply_payment(loan_id: str, body: ApplyPaymentRequest, call: CallDep) -> Response:
    result = await service.apply_payment(call.db, loan_id, body, utcnow())
    headers = {"Idempotent-Replayed": "true"} if result.pop("replayed") else None
    return envelope.success(result, "Payment applied", headers=headers)


@loans.post(
    "/{loan_id}/documents",
    status_code=201,
    dependencies=[OWN_LOAN],
    response_model=Envelope[DocumentOut],
)
async def upload_document(
    loan_id: str,
    call: CallDep,
    document_type: Annotated[DocumentType, Form(alias="documentType")],
    file: Annotated[UploadFile, File()],
) -> Response:
    limit = call.settings.documents_max_bytes
    declared = call.request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise document_service.too_large(limit)

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await file.read(document_service.CHUNK):
            yield chunk

    document = await document_service.upload(
        call.db,
        call.settings.data_dir,
        loan_id,
        document_type,
        file.filename,
        chunks(),
        limit,
        call.acting_user(),
        utcnow(),
    )
    return envelope.success(_document(document), "Document uploaded", 201)


@loans.get(
    "/{loan_id}/documents", dependencies=[OWN_LOAN], response_model=Envelope[list[DocumentOut]]
)
async def list_documents(loan_id: str, call: CallDep) -> Response:
    documents = await document_service.list_documents(call.db, loan_id)
    return envelope.success([_document(d) for d in documents], "Documents")


@loans.get(
    "/{loan_id}/documents/{document_id}/content",
    dependencies=[OWN_LOAN],
    response_class=FileResponse,
    responses={200: {"description": "The file as it was uploaded", "content": _FILE_TYPES}},
)
async def document_content(loan_id: str, document_id: SerialId, call: CallDep) -> Response:
    document, path = await document_service.get_document(
        call.db, call.settings.data_dir, loan_id, document_id
    )
    return FileResponse(
        path,
        media_type=document.mime_type,
        filename=document.document_name,
        headers={"X-Content-Type-Options": "nosniff"},
    )


@loans.post(
    "/{loan_id}/documents/{document_id}/verify",
    dependencies=[OFFICERS_ONLY],
    response_model=Envelope[DocumentOut],
)
async def verify_document(
    loan_id: str, document_id: SerialId, body: VerifyDocumentRequest, call: CallDep
) -> Response:
    async def work() -> dict[str, Any]:
        document = await document_service.verify(
            call.db,
            loan_id,
            document_id,
            VerificationStatus(body.status),
            call.acting_user(body.verified_by),
            utcnow(),
        )
        return _document(document)

    return await call.answer(work, f"Document {body.status.lower()}")


def _document(document: Document) -> dict[str, Any]:
    return DocumentOut.model_validate(document, from_attributes=True).wire()


@loans.post(
    "/{loan_id}/installments/{installment_number}/waive-penalty",
    dependencies=[OFFICERS_ONLY],
    response_model=Envelope[WaiverOut],
)
async def waive_penalty(
    loan_id: str, installment_number: SerialId, body: WaivePenaltyRequest, call: CallDep
) -> Response:
    """An officer waives an installment's late penalty (all it owes on the business date when
    no amount is given): 422 WAIVER_EXCEEDS_PENALTY for more than it owes."""

    async def work() -> dict[str, Any]:
        return await service.waive_penalty(
            call.db,
            loan_id,
            installment_number,
            body,
            call.acting_user() or "unknown",
            today(),
            utcnow(),
        )

    return await call.answer(work, "Penalty waived")


@loans.get(
    "/{loan_id}/delinquency-history",
    dependencies=[OWN_LOAN],
    response_model=Envelope[Page[DelinquencyMoveOut]],
)
async def delinquency_history(
    loan_id: str, call: CallDep, page: PageNumber = 0, size: PageSize = 20
) -> Response:
    """The loan's moves between delinquency buckets, one per close of business at most,
    newest first."""
    rows, total = await service.delinquency_history(call.db, loan_id, page, size)
    return envelope.success(
        Page[dict].of([_history_row(r) for r in rows], page, size, total).wire(),
        "Delinquency history",
    )


def _history_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "businessDate": row["business_date"],
        "previousBucket": row["previous_bucket"],
        "bucket": row["bucket"],
        "daysPastDue": row["days_past_due"],
        "previousNonPerforming": row["previous_non_performing"],
        "nonPerforming": row["non_performing"],
        "oldestUnpaidDueDate": row["oldest_unpaid_due_date"],
        "cobRunId": row["cob_run_id"],
        "recordedAt": row["created_at"],
    }
