"""The one error body, {"error", "message"[, "fields"]} (SPEC §7): errors.json_error builds it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error: {"error", "message"} and, for invalid input, "fields" naming each one."""

    error: str = Field(description="The status's code name, e.g. validation_error, not_found.")
    message: str
    fields: dict[str, str | list[str]] | None = Field(None, description="Input name -> its problem(s).")
    spec_lines: list[int] | None = Field(None, description="Lines of the spec with problems.")
