"""The public view (SPEC §5): anyone holding a valid share link sees one graph, read-only.

Every answer of these routes, errors included, carries the public headers. A link is checked
against its row on every request (only the token's signature check is cached, in
share_tokens.py), and the view is counted by one conditional UPDATE that also re-checks every
rule, so revocation is immediate on every process and max views is exact under concurrency.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, after_this_request, current_app, g, render_template, request
from sqlalchemy import JSON, DateTime, Integer, String, Text, bindparam, text

from maestro_web import live_events
from maestro_web.analytics_front import analytics_public_bp
from maestro_web.analytics_front.presenters import page_fields, raw_svg
from maestro_web.errors import error_page
from maestro_web.extensions import db, limiter
from maestro_web.headers import keep_private, live_connect_src, sandboxed_svg_csp
from maestro_web.models import Role, ShareLink
from maestro_web.models.base import as_utc, utcnow
from maestro_web.rate_limits import STORAGE_ERRORS, share_failure_allowed, storage_unavailable
from maestro_web.security.share_tokens import ShareTokenExpired, ShareTokenInvalid

# What a visitor is told, by outcome: nothing about the graph, nothing about why a token failed.
REFUSALS = {
    "invalid": (404, "This link does not work", "Check that you copied the whole link, or ask its owner for a new one."),
    "expired": (410, "This link has expired", "Ask the person who shared it for a new link."),
    "revoked": (410, "This link was revoked", "Its owner turned it off. Ask them for a new link if you still need it."),
    "used up": (410, "This link was used up", "It allowed a limited number of views, and they have all been used."),
    "paused": (403, "Temporarily unavailable", "The owner paused this link. Try again later."),
    "no picture": (404, "No picture yet", "This graph has not been drawn yet. Try again later."),
    "too many": (429, "Too many attempts", "Too many links that do not work came from your address. Wait a minute."),
}


@analytics_public_bp.after_request
def public_headers(response: Response) -> Response:
    link = getattr(g, "share_link", None)  # a ShareLink, or the row the view counter returned
    origins = link.allowed_origins.split() if link is not None else []
    ancestors = " ".join(origins) if origins else "'none'"
    keep_private(response)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    if response.mimetype == "image/svg+xml":
        response.headers["Content-Security-Policy"] = sandboxed_svg_csp(ancestors)
    else:
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {live_connect_src(current_app.config['MAESTRO_LIVE_URL'])}; "
            f"base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}")
    # nosniff, and X-Frame-Options unless `ancestors` names origins, come from the app-wide headers.
    return response


def _refuse(outcome: str, embed: bool) -> Response:
    if outcome == "invalid":
        try:
            allowed, retry_after = share_failure_allowed()
        except STORAGE_ERRORS as exc:  # inside an error handler: answer here, or Flask makes it a 500
            return storage_unavailable(exc)
        if not allowed:
            response = _refuse("too many", embed)
            response.headers["Retry-After"] = str(retry_after)
            return response
    status, title, message = REFUSALS[outcome]
    return error_page(status, message, title, public=True, embed=embed)


def _embed() -> bool:
    return bool((request.view_args or {}).get("embed"))


@analytics_public_bp.errorhandler(ShareTokenInvalid)
def _invalid_token(_error: ShareTokenInvalid) -> Response:
    return _refuse("invalid", _embed())


@analytics_public_bp.errorhandler(ShareTokenExpired)
def _expired_token(error: ShareTokenExpired) -> Response:
    """A genuine token past its `exp`: say whether it was revoked first, under the link's own headers."""
    link = ShareLink.get_by_public_id(error.claims["jti"])
    if link is not None and link.graph.public_id == request.view_args.get("graph_id"):
        g.share_link = link
        return _refuse("revoked" if link.revoked_at is not None else "expired", _embed())
    return _refuse("expired", _embed())


def _diagnose(link_id: str, graph_id: str) -> str:
    """Why a link that was not counted may not be viewed."""
    link = ShareLink.get_by_public_id(link_id)
    if link is None or link.graph.public_id != graph_id or link.graph.deleted_at is not None or not link.creator_may_share():
        return "invalid"
    g.share_link = link  # a known link's embedding rules apply to its refusal pages too
    status = link.status()
    return status if status != "active" else "invalid"


@analytics_public_bp.get("/graphs/public/<graph_id>", defaults={"embed": False})
@analytics_public_bp.get("/graphs/public/<graph_id>/embed", defaults={"embed": True}, endpoint="public_embed")
@limiter.exempt  # failures are counted in _refuse(), successes cost nothing
def public_graph(graph_id: str, embed: bool):
    jti = g.share_claims["jti"]  # require_share checked the token
    counted = count_view(jti, graph_id)
    if counted is None:
        return _refuse(_diagnose(jti, graph_id), embed)
    after_this_request(live_events.announce_view(jti))  # share.viewed, once the answer is sent

    g.share_link = counted  # its allowed origins, for the headers
    if request.args.get("ext") == "svg":
        return raw_svg(counted.svg) if counted.svg is not None else _refuse("no picture", embed)
    page = page_fields(counted.name, counted.type, counted.status, counted.message, counted.info, counted.svg,
                       counted.drawn_at)
    template = "analytics/public_embed.html" if embed else "analytics/public.html"
    return render_template(template, page=page, expires_at=as_utc(counted.expires_at))


# The rules of SPEC §5 for a link that may be viewed right now, as one statement that also counts
# the view: not revoked, not paused, not expired, below its max views, its graph not deleted, its
# creator still holding Write (role >= 3). ShareLink.status() gives the same rules in Python for the
# owner's pages; tests/test_shares.py checks that both agree, one rule at a time.
#
# This is the hottest path of the app, so it is plain SQL (valid on SQLite and PostgreSQL; building
# and cache-keying the same statement as a SQLAlchemy expression cost more than running it), run
# in autocommit mode (a single statement is atomic: no BEGIN/COMMIT round trips). On PostgreSQL
# the count and the read of the graph with its newest picture are one statement (a data-modifying
# CTE), so a view costs one round trip; SQLite has no UPDATE in a CTE and runs the two in turn.
_COUNT_VIEW_SQL = """
UPDATE share_links
   SET view_count = view_count + 1, last_viewed_at = :now
 WHERE public_id = :jti
   AND graph_id = (SELECT id FROM graphs WHERE public_id = :graph_id AND deleted_at IS NULL)
   AND revoked_at IS NULL
   AND paused_at IS NULL
   AND expires_at > :now
   AND (max_views IS NULL OR view_count < max_views)
   AND EXISTS (SELECT 1 FROM graph_roles
                WHERE graph_roles.graph_id = share_links.graph_id
                  AND graph_roles.user_id = share_links.creator_id
                  AND graph_roles.role >= :write)
RETURNING graph_id, expires_at, allowed_origins
"""

_SHOWN_COLUMNS = """
       graphs.name, graphs.type, graphs.status, graphs.message, graphs.info,
       graph_results.svg, graph_results.created_at AS drawn_at"""

_NEWEST_PICTURE_JOIN = """
  LEFT OUTER JOIN graph_results ON graph_results.id = (
       SELECT max(newest.id) FROM graph_results AS newest
        WHERE newest.graph_id = graphs.id AND newest.svg IS NOT NULL)"""

_GRAPH_WITH_PICTURE_SQL = f"SELECT {_SHOWN_COLUMNS}\n  FROM graphs {_NEWEST_PICTURE_JOIN}\n WHERE graphs.id = :graph_id"

_COUNT_AND_SHOW_SQL = f"""
WITH counted AS ({_COUNT_VIEW_SQL})
SELECT counted.graph_id, counted.expires_at, counted.allowed_origins, {_SHOWN_COLUMNS}
  FROM counted JOIN graphs ON graphs.id = counted.graph_id {_NEWEST_PICTURE_JOIN}
"""

_COUNTED_TYPES = {"graph_id": Integer, "expires_at": DateTime(timezone=True), "allowed_origins": Text}
_SHOWN_TYPES = {"name": String, "type": String, "status": String, "message": Text, "info": JSON, "svg": Text,
                "drawn_at": DateTime(timezone=True)}


def _statement(sql: str, **types):
    statement = text(sql)
    if ":now" in sql:  # the counting statements
        statement = statement.bindparams(bindparam("now", type_=DateTime(timezone=True)),
                                         bindparam("write", value=int(Role.WRITE)))
    return statement.columns(**types)


COUNT_VIEW = _statement(_COUNT_VIEW_SQL, **_COUNTED_TYPES)
GRAPH_WITH_PICTURE = _statement(_GRAPH_WITH_PICTURE_SQL, **_SHOWN_TYPES)
COUNT_AND_SHOW = _statement(_COUNT_AND_SHOW_SQL, **_COUNTED_TYPES, **_SHOWN_TYPES)


@dataclass(frozen=True)
class CountedView:
    """What a counted view shows: the link's embedding rules and expiry, the graph, its picture."""

    graph_id: int
    expires_at: datetime
    allowed_origins: str
    name: str
    type: str
    status: str
    message: str | None
    info: Any
    svg: str | None
    drawn_at: datetime | None


def _autocommit_engine():
    """The app's engine in autocommit mode (same pool): each statement is its own transaction."""
    engines = current_app.extensions.setdefault("maestro_autocommit", {})
    engine = engines.get("default")
    if engine is None:
        engine = engines["default"] = db.engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def count_view(jti: str, graph_id: str) -> CountedView | None:
    """Count one view if, and only if, every rule holds at this instant; None if one does not."""
    params = {"jti": jti, "graph_id": graph_id, "now": utcnow()}
    with _autocommit_engine().connect() as connection:
        if connection.dialect.name == "postgresql":
            row = connection.execute(COUNT_AND_SHOW, params).first()
            return CountedView(**row._mapping) if row is not None else None
        counted = connection.execute(COUNT_VIEW, params).first()
        if counted is None:
            return None
        shown = connection.execute(GRAPH_WITH_PICTURE, {"graph_id": counted.graph_id}).one()
        return CountedView(**counted._mapping, **shown._mapping)
