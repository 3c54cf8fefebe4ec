"""What a client may say about the saga itself when it starts one (api.md §5)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from elms.core.schemas import WireModel
from elms.gateway.saga.state import Policy


class SagaOptions(WireModel):
    """Read from the whole body of `POST /api/v1/saga/loan-creation`: the loan's fields are the
    loan service's to check."""

    model_config = ConfigDict(extra="ignore")

    # Seconds until an unfinished saga is compensated; the gateway's default when absent.
    saga_timeout: Annotated[int, Field(ge=1, le=86400, strict=True)] | None = None
    compensation_policy: Policy = Policy.AUTOMATIC

    @classmethod
    def wire_names(cls) -> set[str]:
        return {field.alias or name for name, field in cls.model_fields.items()}
