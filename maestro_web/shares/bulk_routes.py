"""Bulk actions on "My shared links" (SPEC §10): pause, resume, extend or revoke the selected
links. The first POST shows one confirmation page saying what will happen; its form posts again with
`confirmed=1`, and only then is anything changed (POST, CSRF as every form)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from maestro_web.extensions import db
from maestro_web.models import Graph, ShareLink
from maestro_web.models.base import utcnow
from maestro_web.models.share_rules import Outcome, visitors_see
from maestro_web.security.session_jwt import current_user
from maestro_web.shares import shares_bp
from maestro_web.shares.services import ShareRefused, max_ttl, revoke_links

ACTIONS = {"pause": "Pause", "resume": "Resume", "extend": "Extend", "revoke": "Revoke"}
EXTEND_BY = {
    "1d": ("1 day", timedelta(days=1)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
}
# What visitors of the links see after a pause or a revocation: the refusal titles (share_rules.VISITOR_WORDS).
BULK_VISITORS_SEE = {"pause": visitors_see(Outcome.PAUSED), "revoke": visitors_see(Outcome.REVOKED)}
MAX_SELECTED = 500  # one page of the list at most is 100; a bound on what one request may touch


def _change(link: ShareLink, action: str, by: timedelta, now: datetime) -> bool:
    """Whether pause, resume or extend (by `by`) changed `link`. The model's own methods decide; one they
    refuse (a revoked link is never paused, resumed or extended) leaves the link as it was."""
    before = (link.paused_at, link.expires_at)
    try:
        if action == "pause":
            link.pause()
        elif action == "resume":
            link.resume()
        else:
            link.extend_by(by, max_ttl(), now)
    except ShareRefused:
        return False
    return (link.paused_at, link.expires_at) != before


def _selected() -> list[ShareLink]:
    """The selected links the signed-in user created, on graphs that still exist (others are ignored)."""
    chosen = list(dict.fromkeys(v for v in request.form.getlist("link") if v and len(v) <= 64))[:MAX_SELECTED]
    if not chosen:
        return []
    user = current_user()
    assert user is not None  # the blueprint's guard let only a signed-in user in
    return list(
        db.session.scalars(
            select(ShareLink)
            .join(Graph, Graph.id == ShareLink.graph_id)
            .where(ShareLink.public_id.in_(chosen), ShareLink.creator_id == user.id, Graph.deleted_at.is_(None))
            .order_by(ShareLink.created_at.desc(), ShareLink.id.desc())
        )
    )


@shares_bp.post("/shares/bulk")
def bulk_links() -> Response | tuple[str, int] | str:
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400, "action must be one of: " + ", ".join(ACTIONS) + ".")
    by = request.form.get("by") or "7d"
    if action == "extend" and by not in EXTEND_BY:
        abort(400, "by must be one of: " + ", ".join(EXTEND_BY) + ".")
    links = _selected()
    if not links:
        flash("Select the links first.", "error")
        return redirect(url_for("shares.my_links"))
    now = utcnow()
    if request.form.get("confirmed") != "1":
        views = sum(link.view_count for link in links)
        count = f"{len(links)} link{'s' if len(links) != 1 else ''}"
        hidden = [
            ("action", action),
            ("confirmed", "1"),
            *([("by", by)] if action == "extend" else []),
            *(("link", link.public_id) for link in links),
        ]
        return render_template(
            "shares/bulk_confirm.html",
            action=action,
            links=links,
            views=views,
            now=now,
            by_label=EXTEND_BY[by][0] if action == "extend" else None,
            heading=f"{ACTIONS[action]} {count}?",
            yes=f"{ACTIONS[action]} {count}",
            post_url=url_for("shares.bulk_links"),
            cancel_url=url_for("shares.my_links"),
            hidden=hidden,
            confirm_class="danger" if action == "revoke" else "primary",
            visitors_see=BULK_VISITORS_SEE,
        )
    if action == "revoke":
        done = revoke_links(ShareLink.id.in_([link.id for link in links]))
    else:
        delta = EXTEND_BY[by][1] if action == "extend" else timedelta(0)  # `by` is checked for extend only
        done = sum(_change(link, action, delta, now) for link in links)
    db.session.commit()
    skipped = len(links) - done
    verb = {"pause": "Paused", "resume": "Resumed", "extend": "Extended", "revoke": "Revoked"}[action]
    message = f"{verb} {done} link{'s' if done != 1 else ''}."
    if skipped:
        message += f" {skipped} left as they were (already {'revoked' if action == 'revoke' else 'in that state, revoked or at their longest'})."
    flash(message, "success")
    return redirect(url_for("shares.my_links"))
