"""What the app refuses, in the domain's words: one `Refused` family, no HTTP here.

A model, a service or a domain rule that cannot do what it was asked raises `Refused(message,
field, kind)`: the message is the sentence a person reads, `field` names the input at fault (for a
form and for a JSON body's "fields"), and `kind` says what sort of refusal it is. Which HTTP status
a kind is answered with, and whether as an HTML page or a JSON body, is decided once, in
maestro_web/errors.py (`STATUSES`, `refused_response`): this module imports neither Flask nor
werkzeug, so the models and the services below the pages stay free of HTTP.

A route lets a refusal go up to that one handler. Only a page that shows the refusal next to a form
field (or on the page it re-renders) catches it, and reads its status with `errors.status_of`.

The named subclasses (ShareRefused, RoleChangeRefused, CrawlRefused, QuotaExceeded, ...) live with
the rules that raise them and only choose a default kind; they exist so that a caller may catch one
family member (a bulk action skipping the links it may not change) and let the others go up.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Kind(str, Enum):
    """Why something is refused; errors.STATUSES answers each with its HTTP status."""

    INVALID = "invalid"  # input that breaks a rule (a field's value)
    BAD_REQUEST = "bad_request"  # a request that cannot be read as asked (a list parameter, a cursor)
    NOT_FOUND = "not_found"  # nothing by that id, or nothing this user may know of
    FORBIDDEN = "forbidden"  # known to the user, but their role is too low
    CONFLICT = "conflict"  # the thing's state forbids it now (revoked, running, the last Admin)
    TOO_LARGE = "too_large"  # more input than a rule allows
    UNSUPPORTED = "unsupported"  # input of a type that is not taken (not JSON)
    TOO_MANY = "too_many"  # a quota spent; `retry_after` says when to try again, if known


class Refused(Exception):
    """A refusal: `message` for people, `field` for the input at fault, `kind` for its sort.

    `fields` maps each input at fault to its problem ({field: message} for one field); `extra` adds
    members to a JSON answer; `retry_after` (seconds) says when trying again may work.
    """

    kind: Kind = Kind.INVALID  # a subclass sets its usual kind here

    def __init__(
        self, message: str, field: str | None = None, kind: Kind | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if kind is not None:
            self.kind = kind
        self.retry_after = retry_after
        self.fields: dict[str, Any] = {field: message} if field else {}
        self.extra: dict[str, Any] = {}


class ValidationFailed(Refused):
    """Input that cannot be accepted, possibly on several fields at once.

    `fields` maps each input name at fault to its problem (a message, or a list of messages for a
    field with several, such as a spec with errors on several lines). `extra` adds members to the
    JSON body (e.g. `spec_lines`). Kind INVALID by default; BAD_REQUEST when the request itself is
    unreadable, TOO_LARGE when it is too large, UNSUPPORTED when it is not JSON.
    """

    def __init__(
        self,
        message: str,
        fields: dict[str, Any] | None = None,
        kind: Kind = Kind.INVALID,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, None, kind)
        self.fields = fields or {}
        self.extra = extra or {}

    @classmethod
    def for_fields(
        cls, fields: dict[str, Any], kind: Kind = Kind.INVALID, extra: dict[str, Any] | None = None
    ) -> ValidationFailed:
        """The usual one: "Invalid fields: a, b." with each field's problem."""
        return cls("Invalid fields: " + ", ".join(sorted(fields)) + ".", fields, kind, extra)


class NoSuch(Refused):
    """Nothing by that id, or nothing this user may know of (existence is not revealed)."""

    kind = Kind.NOT_FOUND


class NotAllowed(Refused):
    """The user may see it, but their role does not allow this."""

    kind = Kind.FORBIDDEN
