"""Share link pages (Write role or above on the graph); the rules are in services.py."""

from __future__ import annotations

from datetime import datetime

from flask import Response, abort, flash, redirect, render_template, request, url_for

from maestro_web.domain.access import authorize_graph
from maestro_web.domain.link_urls import image_url, share_url, short_url
from maestro_web.errors import status_of
from maestro_web.extensions import db
from maestro_web.models import Graph, Role, ShareLink
from maestro_web.models.base import utcnow
from maestro_web.models.share_rules import LISTED_STATUSES, working_links
from maestro_web.security.session_jwt import current_user, signed_in_user
from maestro_web.shares import shares_bp
from maestro_web.shares.forms import ExtendForm, PasscodeForm, ShareForm
from maestro_web.shares.queries import (
    LinkFilters,
    creators_with_write,
    graphs_written_by,
    links_of_graph,
    links_of_user,
)
from maestro_web.shares.services import (
    QUICK_LIFETIME,
    NewLink,
    ShareRefused,
    create_link,
    extend_link,
    link_on_graph,
    revoke_links,
)
from maestro_web.shares.snippets import iframe_snippets, image_html, image_markdown, qr_file_name, qr_png, qr_svg
from maestro_web.web.headers import keep_private, svg_document
from maestro_web.web.words import relative_time


@shares_bp.route("/graphs/<graph_id>/shares", methods=["GET", "POST"])
def graph_shares(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    form = ShareForm(graph)
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                link = create_link(graph, signed_in_user(), form.new_link(utcnow()))
            except ShareRefused as exc:  # a rule that changed between the check and the write (a picture pruned)
                db.session.rollback()
                form.refused(exc)
            else:
                db.session.commit()
                flash(f"{link.state().confirmation('create')} Copy it, show its QR code or embed it below.", "success")
                return redirect(url_for("shares.link_page", graph_id=graph.public_id, link_id=link.public_id))
    links, writers, now = links_of_graph(graph), creators_with_write(graph), utcnow()
    return render_template(
        "shares/graph.html",
        graph=graph,
        role=role,
        form=form,
        links=links,
        writers=writers,
        now=now,
        counts=_revoke_all_counts(graph, links, now),
    ), status


@shares_bp.post("/graphs/<graph_id>/shares/quick")
def quick_share(graph_id: str):
    """The Share button of the Overview and Picture pages: a link with the defaults (7 days, live, the
    default label), then its page with Copy, the QR code and the image link. Options stay on the form."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    now = utcnow()
    try:
        link = create_link(graph, signed_in_user(), NewLink(label=None, expires_at=now + QUICK_LIFETIME))
    except ShareRefused as exc:  # the configured cap is shorter than 7 days: the form lets the owner choose
        db.session.rollback()
        flash(f"{exc} Choose the link's options here.", "error")
        return redirect(url_for("shares.graph_shares", graph_id=graph.public_id))
    db.session.commit()
    flash(
        f"{link.state().confirmation('create')} It is live and expires {relative_time(link.expires_at)}: copy it or "
        "show its QR code, or change it under “Shares”.",
        "success",
    )
    return redirect(url_for("shares.link_page", graph_id=graph.public_id, link_id=link.public_id))


def _revoke_all_counts(graph: Graph, links: list[ShareLink], now: datetime) -> dict[str, int]:
    """What "revoke all" would end, for its confirmation: the working links (share_rules.working_links),
    the others not yet revoked (paused, expired, used up, or stopped because their creator lost Write)
    and their views."""
    left = [link for link in links if link.revoked_at is None]
    working = set(db.session.scalars(working_links(graph.id, now)))
    active = sum(1 for link in left if link.public_id in working)
    return {"active": active, "others": len(left) - active, "views": sum(link.view_count for link in left)}


@shares_bp.get("/graphs/<graph_id>/shares/<link_id>")
def link_page(graph_id: str, link_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    return keep_private(_render_link(graph, role, link, ExtendForm(formdata=None)))


def _render_link(graph, role, link, form, status=200, passcode_form=None):
    usable = link.revoked_at is None
    response = render_template(
        "shares/link.html",
        graph=graph,
        role=role,
        link=link,
        form=form,
        now=utcnow(),
        passcode_form=passcode_form or PasscodeForm(formdata=None),
        url=share_url(link) if usable else None,
        short_url=short_url(link) if usable else None,
        snippets=iframe_snippets(link) if usable and link.embeddable else None,
        image=(
            {"url": image_url(link), "markdown": image_markdown(link), "html": image_html(link)} if usable else None
        ),
    )
    return Response(response, status=status, mimetype="text/html")


@shares_bp.get("/graphs/<graph_id>/shares/<link_id>/qr.svg")
def link_qr(graph_id: str, link_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    if link.revoked_at is not None:
        abort(410, "This link was revoked.")
    return keep_private(svg_document(qr_svg(link)))


@shares_bp.get("/graphs/<graph_id>/shares/<link_id>/qr.png")
def link_qr_png(graph_id: str, link_id: str):
    """The same QR code as a PNG file to download (for slides and print), same rules as qr.svg."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    if link.revoked_at is not None:
        abort(410, "This link was revoked.")
    response = Response(qr_png(link), mimetype="image/png")
    response.headers["Content-Disposition"] = f'attachment; filename="{qr_file_name(link)}"'
    return keep_private(response)


@shares_bp.post("/graphs/<graph_id>/shares/<link_id>/<action>")
def link_action(graph_id: str, link_id: str, action: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    if action not in ("pause", "resume", "revoke", "extend"):
        abort(404)
    form = ExtendForm()
    try:
        if action == "extend":
            if not form.validate_on_submit():
                return keep_private(_render_link(graph, role, link, form, 422))
            extend_link(link, form.expiry(max(utcnow(), link.expires_at)))
        else:  # a one-button form: CSRFProtect has already checked it, like every POST
            {"pause": link.pause, "resume": link.resume, "revoke": link.revoke}[action]()
    except ShareRefused as exc:
        db.session.rollback()
        if action == "extend":
            form.expiry_field.errors = [*form.expiry_field.errors, str(exc)]
            return keep_private(_render_link(graph, role, link, form, status_of(exc)))
        flash(str(exc), "error")
        return redirect(url_for("shares.link_page", graph_id=graph.public_id, link_id=link.public_id))
    db.session.commit()
    flash(link.state().confirmation(action), "success")  # the words of its state now (share_rules.STATE_REASONS)
    back = request.form.get("back")
    if back == "list":
        return redirect(url_for("shares.graph_shares", graph_id=graph.public_id))
    return redirect(url_for("shares.link_page", graph_id=graph.public_id, link_id=link.public_id))


@shares_bp.get("/graphs/<graph_id>/shares/<link_id>/revoke")
def confirm_revoke(graph_id: str, link_id: str):
    """The no-JS confirmation of "Revoke" (the button's <dialog> says the same); it posts to link_action."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    page = url_for("shares.link_page", graph_id=graph.public_id, link_id=link.public_id)
    if link.revoked_at is not None:
        flash("This link was already revoked.", "success")
        return redirect(page)
    back = [("back", "list")] if request.args.get("back") == "list" else []
    return keep_private(
        Response(
            render_template(
                "confirm.html",
                q={"kind": "revoke", "link": link},
                post_url=url_for(
                    "shares.link_action", graph_id=graph.public_id, link_id=link.public_id, action="revoke"
                ),
                cancel_url=url_for("shares.graph_shares", graph_id=graph.public_id) if back else page,
                hidden=back,
            )
        )
    )


@shares_bp.get("/graphs/<graph_id>/shares/revoke-all")
def confirm_revoke_all(graph_id: str):
    """The no-JS confirmation of "Revoke all links of this graph", with the numbers it ends."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    counts = _revoke_all_counts(graph, links_of_graph(graph), utcnow())
    return render_template(
        "confirm.html",
        q={"kind": "revoke_all", "graph": graph, "counts": counts},
        post_url=url_for("shares.revoke_all", graph_id=graph.public_id),
        cancel_url=url_for("shares.graph_shares", graph_id=graph.public_id),
        hidden=(),
    )


@shares_bp.post("/graphs/<graph_id>/shares/<link_id>/passcode")
def set_passcode(graph_id: str, link_id: str):
    """Set or change the link's passcode; every browser that entered the old one must enter this one."""
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    form = PasscodeForm()
    if link.revoked_at is not None:
        abort(410, "This link was revoked.")
    if form.validate_on_submit():
        had_one = link.has_passcode
        link.set_passcode(form.passcode.data or "")
        db.session.commit()
        flash(
            "Passcode changed: visitors must enter the new one, also in browsers that had opened the link."
            if had_one
            else "Passcode set: visitors must enter it before they see the graph.",
            "success",
        )
        return redirect(url_for("shares.link_page", graph_id=graph.public_id, link_id=link.public_id))
    return keep_private(_render_link(graph, role, link, ExtendForm(formdata=None), 422, passcode_form=form))


@shares_bp.post("/graphs/<graph_id>/shares/<link_id>/passcode/remove")
def remove_passcode(graph_id: str, link_id: str):
    """Remove the passcode: anyone holding the link opens it again (the old cookies stay dead)."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    link.set_passcode(None)
    db.session.commit()  # a one-button form: CSRFProtect has already checked it, like every POST
    flash("Passcode removed: anyone with the link can open it.", "success")
    return redirect(url_for("shares.link_page", graph_id=graph.public_id, link_id=link.public_id))


@shares_bp.post("/graphs/<graph_id>/shares/revoke-all")
def revoke_all(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    count = revoke_links(ShareLink.graph_id == graph.id)
    db.session.commit()
    flash(f"Revoked {count} link{'s' if count != 1 else ''} of this graph.", "success")
    return redirect(url_for("shares.graph_shares", graph_id=graph.public_id))


MY_LINKS_PER_PAGE = 50
STATUS_CHOICES = (
    ("", "Active and paused"),
    *((status.key, status.word) for status in LISTED_STATUSES),
    ("all", "All links"),
)
SORT_CHOICES = (("created", "Newest first"), ("expires", "Ending soonest"), ("last_view", "Last viewed"))


@shares_bp.get("/shares")
def my_links():
    """My shared links: search, status filter (active + paused unless asked), sort, pages; one query a page."""
    filters = LinkFilters.from_args(request.args, default_per_page=MY_LINKS_PER_PAGE)  # BadListRequest: 400
    user, now = current_user(), utcnow()
    found = links_of_user(user, filters, now)
    writing = graphs_written_by(user, {link.graph_id for link in found.items})
    # every link here is the user's own: it has stopped where the user lost Write on its graph
    states = {link.id: link.state(now, {user.id} if link.graph_id in writing else set()) for link in found.items}
    args = {
        "q": filters.search or None,
        "status": filters.status_param,
        "sort": filters.sort if filters.sort != "created" else None,
        "per_page": filters.per_page if filters.per_page != MY_LINKS_PER_PAGE else None,
    }
    short_urls = {link.public_id: short_url(link) for link in found.items if link.revoked_at is None}
    return render_template(
        "shares/mine.html",
        found=found,
        links=found.items,
        filters=filters,
        args=args,
        short_urls=short_urls,
        status_choices=STATUS_CHOICES,
        sort_choices=SORT_CHOICES,
        now=now,
        states=states,
    )
