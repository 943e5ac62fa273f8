"""A report as JSON (SPEC §12): the API's answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from maestro_web.models import Report
from maestro_web.serializers.users import person_json


class ReportStarted(BaseModel):
    report: str


class ReportByOut(BaseModel):
    id: str
    name: str


class ReportOut(BaseModel):
    id: str
    format: Literal["pdf", "xlsx", "csv"]
    status: Literal["running", "ready", "failed"]
    message: str
    size: int | None = Field(description="Bytes of the file once ready.")
    since: int | None
    created_at: str
    finished_at: str | None
    by: ReportByOut | None = Field(description="Who asked; null once their account is gone.")


class ReportList(BaseModel):
    items: list[ReportOut]


def report_json(report: Report) -> dict[str, Any]:
    by = report.requested_by
    return {
        "id": report.public_id,
        "format": report.format,
        "status": report.status,
        "message": report.message,
        "size": report.size,
        "since": report.since,
        "created_at": report.created_at.isoformat(),
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "by": person_json(by) if by is not None else None,
    }
