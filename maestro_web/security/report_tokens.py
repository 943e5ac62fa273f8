"""Report commands (SPEC §3 "report command", §12): the app tells the report service to make a report.

The app mints a short-lived user-context token with the user session secret MAESTRO_SECRETJWT for
the user who asked: `aud` "maestro-reports", `sub` the user's public id, `graph` the graph's public
id, `report` the report's public id, `ver` the user's token version, at most 15 minutes. The report
service verifies it before it accepts a command, then reads through the app's JSON API with the same
token; the app accepts it there only on that graph's read endpoints and on the upload of that one
report (maestro_web/guards.py). `aud` keeps it from being taken for a session token, a discovery
command or a live ticket; `ver` makes it die with the user's sessions (a password change or reset).

Flask-free: the report service verifies with this module without importing the app.
"""

from __future__ import annotations

from typing import Any

from maestro_web.security import command_tokens
from maestro_web.security.signing import KeyRing

CONTEXT = command_tokens.CONTEXT
AUDIENCE = "maestro-reports"
MAX_LIFETIME = command_tokens.MAX_LIFETIME


class ReportTokenError(Exception):
    """The token is not a valid report command; the message is safe to show the caller."""


def issue_report_token(
    ring: KeyRing,
    *,
    user_id: str,
    graph_id: str,
    report_id: str,
    token_version: int,
    ttl: int = MAX_LIFETIME,
    now: float | None = None,
) -> str:
    """A command token for `user_id` (whose token version is `token_version`) to make report
    `report_id` of `graph_id`, valid `ttl` seconds (at most 15 minutes)."""
    return command_tokens.issue(
        ring,
        audience=AUDIENCE,
        user_id=user_id,
        graph_id=graph_id,
        token_version=token_version,
        ttl=ttl,
        now=now,
        ids={"report": report_id},
    )


def verify_report_token(token: object, ring: KeyRing) -> dict[str, Any]:
    """The claims of a valid report command token; raises ReportTokenError for anything else."""
    return command_tokens.verify(token, ring, audience=AUDIENCE, error=ReportTokenError, ids=("report",))
