"""The public view (SPEC §5): anyone holding a valid share link sees one graph, read-only.

Every answer of these routes, errors included, carries the public headers. A link is checked
against its row on every request (no cache), and the view is counted by one conditional UPDATE that
also re-checks every rule, so revocation is immediate on every process and max views is exact
under concurrency.
"""
from __future__ import annotations

from flask import Response, current_app, g, render_template, request
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, bindparam, text

from maestro_web.analytics_front import analytics_public_bp
from maestro_web.analytics_front.presenters import page_fields, raw_svg
from maestro_web.extensions import db, limiter
from maestro_web.models import Role, ShareLink
from maestro_web.models.base import as_utc, utcnow
from maestro_web.security.share_tokens import CONTEXT, ShareTokenExpired, ShareTokenInvalid, verify_share_token

# What a visitor is told, by outcome: nothing about the graph, nothing about why a token failed.
REFUSALS = {
    "invalid": (404, "This link does not work", "Check that you copied the whole link, or ask its owner for a new one."),
    "expired": (410, "This link has expired", "Ask the person who shared it for a new link."),
    "revoked": (410, "This link was revoked", "Its owner turned it off. Ask them for a new link if you still need it."),
    "used up": (410, "This link was used up", "It allowed a limited number of views, and they have all been used."),
    "paused": (403, "Temporarily unavailable", "The owner paused this link. Try again later."),
    "no picture": (404, "No picture yet", "This graph has not been drawn yet. Try again later."),
}


def _failure_limit() -> str:
    return current_app.config["MAESTRO_SHARE_FAILURE_RATE_LIMIT"]


def _failed(response: Response) -> bool:
    """Only answers to a bad token use up the per-IP budget (SPEC: abuse guards)."""
    return response.status_code == 404 and getattr(g, "share_token_failed", False)


@analytics_public_bp.after_request
def public_headers(response: Response) -> Response:
    link = getattr(g, "share_link", None)  # a ShareLink, or the row the view counter returned
    origins = link.allowed_origins.split() if link is not None and link.embeddable else []
    ancestors = " ".join(origins) if origins else "'none'"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "image/svg+xml":
        response.headers["Content-Security-Policy"] = (
            f"sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {ancestors}")
    else:
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'none'; "
            f"base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}")
    if ancestors != "'none'":
        response.headers.pop("X-Frame-Options", None)
    else:
        response.headers["X-Frame-Options"] = "DENY"
    return response


def _refuse(outcome: str, embed: bool) -> Response:
    status, title, message = REFUSALS[outcome]
    html = render_template("analytics/public_refused.html", status=status, title=title, message=message, embed=embed)
    return Response(html, status=status, mimetype="text/html")


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
@limiter.limit(_failure_limit, deduct_when=_failed, scope="share-token-failures")
def public_graph(graph_id: str, embed: bool):
    ring = current_app.config["KEY_RINGS"][CONTEXT]
    try:
        claims = verify_share_token(request.args.get("token", ""), ring, graph_id)
    except ShareTokenInvalid:
        g.share_token_failed = True
        return _refuse("invalid", embed)
    except ShareTokenExpired as exc:
        link = ShareLink.get_by_public_id(exc.claims["jti"])
        g.share_link = link if link is not None and link.graph.public_id == graph_id else None
        return _refuse("revoked" if link is not None and link.revoked_at is not None else "expired", embed)

    # One transaction, two statements: count the view (if every rule holds), read what to show.
    counted = db.session.execute(COUNT_VIEW, {"jti": claims["jti"], "graph_id": graph_id, "now": utcnow()}).first()
    if counted is None:
        db.session.rollback()
        outcome = _diagnose(claims["jti"], graph_id)
        g.share_token_failed = outcome == "invalid"
        return _refuse(outcome, embed)
    shown = db.session.execute(GRAPH_WITH_PICTURE, {"graph_id": counted.graph_id}).one()
    db.session.commit()

    g.share_link = counted  # embeddable and origins, for the headers
    if request.args.get("ext") == "svg":
        return raw_svg(shown.svg) if shown.svg is not None else _refuse("no picture", embed)
    page = page_fields(shown.name, shown.type, shown.status, shown.message, shown.info, shown.svg, shown.created_at)
    template = "analytics/public_embed.html" if embed else "analytics/public.html"
    return render_template(template, page=page, expires_at=as_utc(counted.expires_at))


# The rules of SPEC §5 for a link that may be viewed right now, as one statement that also counts
# the view: not revoked, not paused, not expired, below its max views, its graph not deleted, its
# creator still holding Write (role >= 3). Plain SQL (valid on SQLite and PostgreSQL) because this is
# the hottest statement of the app: building and cache-keying the same statement as a SQLAlchemy
# expression cost more than running it. ShareLink.status() gives the same rules in Python for the
# owner's pages; tests/test_shares.py checks that both agree, one rule at a time.
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
RETURNING graph_id, expires_at, embeddable, allowed_origins
"""

_GRAPH_WITH_PICTURE_SQL = """
SELECT graphs.name, graphs.type, graphs.status, graphs.message, graphs.info,
       graph_results.svg, graph_results.created_at
  FROM graphs
  LEFT OUTER JOIN graph_results ON graph_results.id = (
       SELECT max(newest.id) FROM graph_results AS newest
        WHERE newest.graph_id = graphs.id AND newest.svg IS NOT NULL)
 WHERE graphs.id = :graph_id
"""


def _count_view_statement():
    """Count one view if, and only if, every rule holds at this instant; return what the page needs."""
    return (
        text(_COUNT_VIEW_SQL)
        .bindparams(bindparam("now", type_=DateTime(timezone=True)), bindparam("write", value=int(Role.WRITE)))
        .columns(graph_id=Integer, expires_at=DateTime(timezone=True), embeddable=Boolean, allowed_origins=Text)
    )


def _graph_with_picture_statement():
    """The graph's fields and its newest picture, in one query."""
    return text(_GRAPH_WITH_PICTURE_SQL).columns(
        name=String, type=String, status=String, message=Text, info=JSON, svg=Text, created_at=DateTime(timezone=True))


COUNT_VIEW = _count_view_statement()
GRAPH_WITH_PICTURE = _graph_with_picture_statement()
