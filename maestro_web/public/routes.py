"""The public view (SPEC §5): anyone holding a valid share link sees one graph, read-only.

A request reads top to bottom: the blueprint's guard verifies the token (guards.require_share,
security/share_tokens.py: signature, audience, graph); the view counts the view or, if the link's
row does not allow one, diagnoses why (models/share_rules.py, the one home of those rules: one
conditional UPDATE on an autocommit connection, so revocation is immediate on every process and max
views exact under concurrency); then it renders the page (kept per process under every input of
it, page_cache.py), the raw SVG, or the refusal page. A link with a passcode is counted and shown
only once this browser entered it (passcode_gate.py): until then its page is the passcode form,
which POSTs back to the same URL.

The long link, the short link, the embed, a passcode-opened page and the page's own redraw are one
page rendered by one function (public_page); every URL in it is built on the address the visitor
opened (Address), and every route of a link exists for both addresses (public_route), so no path
can fall behind another.

Every answer of these routes, errors included, carries the public headers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, abort, current_app, g, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response as AnyResponse

from maestro_web import live_events, receipts, redispatch
from maestro_web.errors import error_page
from maestro_web.extensions import csrf, db
from maestro_web.live_pages.tickets import live_since, share_ticket
from maestro_web.metrics import app as app_metrics
from maestro_web.models import Graph, ShareLink
from maestro_web.models.share_rules import CountedView, Outcome, count_view, diagnose, picture_svg
from maestro_web.public import passcode_gate, public_bp
from maestro_web.public.downloads import FORMATS, download, png_answer
from maestro_web.public.page import SINCE_MARK, THEMES, TICKET_EXPIRES_MARK, TICKET_MARK, Address, PublicPage, Shown
from maestro_web.public.page_cache import rendered
from maestro_web.public.presenters import shown_fields
from maestro_web.request_ids import trusted_request_id
from maestro_web.security.share_tokens import ShareTokenExpired, ShareTokenInvalid
from maestro_web.security.short_codes import ShortCodeInvalid
from maestro_web.web import rate_limits
from maestro_web.web.headers import keep_private, live_connect_src, sandboxed_svg_csp, svg_document
from maestro_web.web.rate_limits import STORAGE_ERRORS, share_failure_allowed, storage_unavailable

# What a visitor is told, by refusal: words first (title, then what happened and what to do), the status
# small under them. Nothing about the graph. The refusals of a link's state are worded once, in
# share_rules (Outcome.refusal; the owner's reasons and confirmations quote the same titles); here they get
# their HTTP status. The others are not states of a link. docs/sharing.md lists them all.
_LINK_STATUS = {
    Outcome.CREATOR_LOST_WRITE: 404,
    Outcome.GRAPH_DELETED: 404,
    Outcome.EXPIRED: 410,
    Outcome.REVOKED: 410,
    Outcome.USED_UP: 410,
    Outcome.PAUSED: 403,
    Outcome.SNAPSHOT_GONE: 410,
}
REFUSALS = {
    "invalid": (
        404,
        "This link does not work",
        "It may be incomplete or mistyped. Check that you copied the whole link, or ask the person who shared it for a new one.",
    ),
    **{
        outcome.visitor_sees: (status, *words)
        for outcome, status in _LINK_STATUS.items()
        if (words := outcome.refusal) is not None
    },
    "no picture": (404, "No picture yet", "This graph has not been drawn yet. Try again later."),
    "too many": (429, "Too many attempts", "Too many links that do not work came from your address. Wait a minute."),
    "locked": (401, "Passcode required", "This link is protected by a passcode. Open the link and enter it first."),
}
# Outcomes that reveal nothing (404): for these the link's own embedding rules are not applied either.
_UNSEEN = (Outcome.UNKNOWN, Outcome.GRAPH_DELETED, Outcome.CREATOR_LOST_WRITE)


@public_bp.after_request
def public_headers(response: Response) -> Response:
    link = getattr(g, "share_link", None)  # a ShareLink, or the CountedView of the view counted
    origins = link.allowed_origins.split() if link is not None else []
    ancestors = " ".join(origins) if origins else "'none'"
    keep_private(response)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    form_action = "'self'" if g.get("passcode_form") else "'none'"  # only the passcode form posts
    if response.mimetype == "image/svg+xml":
        response.headers["Content-Security-Policy"] = sandboxed_svg_csp(ancestors)
    else:
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {live_connect_src(current_app.config['MAESTRO_LIVE_URL'])}; "
            f"base-uri 'none'; form-action {form_action}; frame-ancestors {ancestors}"
        )
    # nosniff, and X-Frame-Options unless `ancestors` names origins, come from the app-wide headers.
    return response


def refusal_page(refusal: str, embed: bool) -> Response:
    """The page that tells a visitor the link does not open (a key of REFUSALS). An "invalid" one
    also spends the address's budget of failures, and turns into 429 once it is spent."""
    if refusal == "invalid":
        try:
            allowed, retry_after = share_failure_allowed()
        except STORAGE_ERRORS as exc:  # inside an error handler: answer here, or Flask makes it a 500
            return storage_unavailable(exc)
        if not allowed:
            response = refusal_page("too many", embed)
            response.headers["Retry-After"] = str(retry_after)
            return response
    status, title, message = REFUSALS[refusal]
    app_metrics.share_refused(refusal)
    watch = None
    if (
        refusal == Outcome.PAUSED.visitor_sees
    ):  # it may come back: the page checks the link's state and returns by itself
        here = address()
        if here is not None:
            watch = {"state_url": here.url("state"), "poll": current_app.config["MAESTRO_PUBLIC_STATE_POLL"]}
    return error_page(status, message, title, public=True, embed=embed, watch=watch)


def _embed() -> bool:
    return bool((request.view_args or {}).get("embed"))


@public_bp.errorhandler(ShareTokenInvalid)
def _invalid_token(_error: ShareTokenInvalid) -> Response:
    return refusal_page("invalid", _embed())


@public_bp.errorhandler(ShortCodeInvalid)
def _invalid_code(_error: ShortCodeInvalid) -> Response:
    return refusal_page("invalid", False)


@public_bp.errorhandler(ShareTokenExpired)
def _expired_token(error: ShareTokenExpired) -> Response:
    """A genuine token past its `exp`: say whether it was revoked first, under the link's own headers."""
    link = ShareLink.get_by_public_id(error.claims["jti"])
    if link is not None and link.graph.public_id == (request.view_args or {}).get("graph_id"):
        g.share_link = link
        return refusal_page(
            (Outcome.REVOKED if link.revoked_at is not None else Outcome.EXPIRED).visitor_sees, _embed()
        )
    return refusal_page(Outcome.EXPIRED.visitor_sees, _embed())


def link_verdict(graph_id: str) -> tuple[Outcome, ShareLink | None]:
    """The rules applied in Python to the row of this request's token, without counting a view.

    A known link's embedding rules then apply to the answer, refusal pages included.
    """
    link = ShareLink.get_by_public_id(g.share_claims["jti"])  # require_share checked the token
    outcome = diagnose(link, graph_id)
    if outcome not in _UNSEEN:
        g.share_link = link
    return outcome, link


def count_or_refusal(graph_id: str, embed: bool, page: bool = False) -> CountedView | Response:
    """Count this request's view, or the refusal of a view the counting statement refused: why, from
    the row. A link the rules allow but whose passcode this browser has not entered gets the passcode
    form (`page`) or a bare 401.

    A link that turned viewable between the count and the row's reading (paused, and resumed in that
    instant) is counted once more: answering it from the row would say "This link does not work" of
    a working link (bench/soak.py met it in about one view in 1,100 while owners paused and resumed).
    """
    jti = g.share_claims["jti"]
    presented = passcode_gate.presented_hash(jti)
    request_id = trusted_request_id()  # nginx's retry of a counted view is not counted again
    redispatch.note_write_outside_the_session()
    for _ in range(2):
        counted = count_view(jti, graph_id, presented, request_id)
        if counted is not None:
            if request_id is None:
                redispatch.note_committed()  # a second dispatch would count it again
            else:
                receipts.note_counted_view()  # a second dispatch shows it again, uncounted (its receipt)
            return counted
        link = allowed_link(graph_id)
        if isinstance(link, str):
            return refusal_page(link, embed)
        if not passcode_gate.opened(link):
            return passcode_gate.passcode_form(embed) if page else refusal_page("locked", embed)
    return refusal_page(Outcome.VIEWABLE.visitor_sees, embed)  # it flipped twice in two instants


def allowed_link(graph_id: str) -> ShareLink | str:
    """The link of this request if the rules allow a view now (nothing counted, passcode aside),
    else the name of its refusal (a key of REFUSALS)."""
    outcome, link = link_verdict(graph_id)
    return link if outcome is Outcome.VIEWABLE and link is not None else outcome.visitor_sees


def viewable_link(graph_id: str) -> ShareLink | str:
    """allowed_link(), and this browser has entered the link's passcode if it has one ("locked" if not)."""
    link = allowed_link(graph_id)
    return link if isinstance(link, str) or passcode_gate.opened(link) else "locked"


def address() -> Address | None:
    """The address of this request (require_share verified it); None for a short code of a pruned link."""
    code = (request.view_args or {}).get("code")
    if code is None:
        return Address((request.view_args or {}).get("graph_id", ""), token=request.args.get("token", ""))
    graph_id = _graph_of(g.share_claims["jti"])
    return Address(graph_id, code=code) if graph_id is not None else None


def _graph_of(jti: str) -> str | None:
    """The public id of the graph of the link `jti` (a short link names only its link)."""
    return db.session.scalar(
        select(Graph.public_id).join(ShareLink, ShareLink.graph_id == Graph.id).where(ShareLink.public_id == jti)
    )


def _short(view: Callable[..., AnyResponse]) -> Callable[..., AnyResponse]:
    """A short-link route: the view of the long link, on the address of the short code."""

    @functools.wraps(view)
    def short_view(code: str, **kwargs: Any) -> AnyResponse:
        here = address()
        if here is None:  # a genuine code of a link since pruned
            return refusal_page("invalid", False)
        return view(here, **kwargs)

    return short_view


def _long(view: Callable[..., AnyResponse]) -> Callable[..., AnyResponse]:
    """A long-link route: the view on the address of the graph id and token."""

    @functools.wraps(view)
    def long_view(graph_id: str, **kwargs: Any) -> AnyResponse:
        here = address()
        assert here is not None
        return view(here, **kwargs)

    return long_view


def public_route(
    rule: str, endpoint: str, methods: tuple[str, ...] = ("GET",), **options: Any
) -> Callable[[Callable[..., AnyResponse]], Callable[..., AnyResponse]]:
    """Register `view(address, ...)` twice: `/graphs/public/<graph_id><rule>` (endpoint `public_<endpoint>`)
    and `/s/<code><rule>` (`short_<endpoint>`), so no path of a link can fall behind another."""

    def register(view: Callable[..., AnyResponse]) -> Callable[..., AnyResponse]:
        for prefix, name, wrap in (
            ("/graphs/public/<graph_id>", f"public_{endpoint}", _long),
            ("/s/<code>", f"short_{endpoint}", _short),
        ):
            wrapped = wrap(view)
            wrapped.__name__ = wrapped.__qualname__ = name
            wrapped = rate_limits.exempt(wrapped)  # failures are counted in refusal_page(), successes cost nothing
            public_bp.add_url_rule(prefix + rule, name, wrapped, methods=list(methods), **options)
        return view

    return register


@public_bp.get("/graphs/public/<graph_id>", defaults={"embed": False})
@public_bp.get("/graphs/public/<graph_id>/embed", defaults={"embed": True}, endpoint="public_embed")
@rate_limits.exempt  # failures are counted in refusal_page(), successes cost nothing
def public_graph(graph_id: str, embed: bool) -> Response | str:
    here = address()  # 1. require_share verified the token
    assert here is not None
    return show(here, embed)


@public_bp.post("/graphs/public/<graph_id>", defaults={"embed": False})
@public_bp.post("/graphs/public/<graph_id>/embed", defaults={"embed": True}, endpoint="public_embed_passcode")
@rate_limits.exempt  # wrong passcodes have their own budgets (passcode_gate.enter_passcode)
@csrf.exempt  # an anonymous form with no session to ride on; cross-site posts are refused (docs/sharing.md)
def public_passcode(graph_id: str, embed: bool) -> AnyResponse:
    link = allowed_link(graph_id)
    if isinstance(link, str):
        return refusal_page(link, embed)
    return passcode_gate.enter_passcode(link, embed)


@public_bp.get("/s/<code>", endpoint="short_page")
@rate_limits.exempt  # like the long link: failures are counted in refusal_page()
def short_link(code: str) -> Response | str:
    """The short link `/s/<code>` (SPEC §10): require_share checked the code's MAC; the link's graph comes from
    its row, then everything is the long link's: the same counting statement, page and headers."""
    here = address()
    if here is None:  # a genuine code of a link since pruned
        return refusal_page("invalid", False)
    return show(here, False)


@public_bp.post("/s/<code>")
@rate_limits.exempt
@csrf.exempt
def short_link_passcode(code: str) -> AnyResponse:
    """The passcode form of a short link posts here, then goes back to the short link."""
    graph_id = _graph_of(g.share_claims["jti"])
    link = allowed_link(graph_id) if graph_id is not None else "invalid"
    if isinstance(link, str):
        return refusal_page(link, False)
    return passcode_gate.enter_passcode(link, False)


@public_route("/download.<fmt>", "download")
def public_download(here: Address, fmt: str) -> Response:
    """The long (`/graphs/public/<id>/download.<fmt>?token=`) and the short (`/s/<code>/download.<fmt>`) link's file."""
    if fmt not in FORMATS:
        abort(404)
    counted = count_or_refusal(here.graph_id, False)  # require_share checked the token or code
    if isinstance(counted, Response):  # a refusal, or a bare 401 until the link's passcode is entered
        return counted
    g.share_link = counted  # its allowed origins, for the headers
    app_metrics.share_viewed("download")
    svg = picture_svg(counted.picture_id)
    if svg is None:
        return refusal_page("no picture", False)
    return download(svg, counted.name, counted.drawn_at, fmt, public=True)


def show(here: Address, embed: bool, form: bool = True) -> Response:
    """Count the view or say why not, then render: the page, the SVG or the PNG. `form`: a passcode
    link not yet opened in this browser answers with its form (else a bare 401, for scripts)."""
    jti = g.share_claims["jti"]
    counted = count_or_refusal(
        here.graph_id,
        embed,  # 2. count it, or say why not
        page=form and request.args.get("ext") not in ("svg", "png"),
    )
    if isinstance(counted, Response):
        return counted
    live_events.share_viewed(jti)  # share.viewed to the owner, from the publisher's thread

    g.share_link = counted  # 3. render, under the link's allowed origins
    ext = request.args.get("ext")
    app_metrics.share_viewed(ext if ext in ("svg", "png") else "embed" if embed else "page")
    if ext in ("svg", "png"):
        svg = picture_svg(counted.picture_id)
        if svg is None:
            return refusal_page("no picture", embed)
        return svg_document(svg) if ext == "svg" else png_answer(svg, embed)

    theme = request.args.get("theme") if embed else None
    return public_page(
        PublicPage(Shown.of(counted), counted.expires_at, here, jti, embed, theme if theme in THEMES else None)
    )


def public_page(page: PublicPage, cached: bool = True) -> Response:
    """The public page of a link the rules allow: THE one rendering path of the long link, the short
    link, the embed, a page opened with its passcode and the page's own redraw (`/live`, not `cached`).

    The page is rendered from its page object alone (page.py), and cached under it (page_cache.py).
    Each answer carries a fresh live ticket for `share:<link>` (never one reused across a change of
    the link, which a control event may have cut off), and the event id its first subscription replays
    from: they go into the rendered page afterwards, so one cached page serves every visitor of the link.
    """

    def render() -> str:
        svg = picture_svg(page.shown.picture_id)  # the picture, read once per rendered page
        return render_template(page.template, public=page, page=shown_fields(page.shown, svg))

    response = rendered(page, render) if cached else Response(render(), mimetype="text/html")
    ticket = share_ticket(page.link_id)
    response.set_data(
        response.get_data()
        .replace(TICKET_MARK.encode(), ticket["ticket"].encode())
        .replace(TICKET_EXPIRES_MARK.encode(), ticket["expires_at"].encode())
        .replace(SINCE_MARK.encode(), live_since().encode())
    )
    return response
