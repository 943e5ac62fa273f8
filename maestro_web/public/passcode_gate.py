"""The passcode of a share link (SPEC §10), at the public view's door.

A link with a passcode shows nothing of its graph until the visitor's browser holds that link's
passcode cookie (security/passcode_cookies.py). The view passes the passcode hash a valid cookie
opens to the counting statement (share_rules.count_view), so the view is counted only once the page
is really shown; when the statement counts nothing and the rules otherwise allow a view, the gate
answers instead: the passcode form (401) for the page, a bare 401 for everything else. A link that
is revoked, expired, paused, used up or unknown keeps its usual refusal: the rules come first.

Entering the passcode POSTs to the same URL (long or short): the right one sets the cookie and 303s
back to it; a wrong one shows the form again. Wrong tries are throttled per address and per link in
the app's limiter (rate_limits.reserve_passcode_try); the link's budget never refuses a visitor who
has not given a wrong passcode for it, so guessers cannot lock out the people who know it. See docs/sharing.md "Passcodes".
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from flask import Response, current_app, g, redirect, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response as AnyResponse

from maestro_web.extensions import db
from maestro_web.keyring import KeyRing
from maestro_web.models import ShareLink
from maestro_web.models.base import utcnow
from maestro_web.security import share_tokens
from maestro_web.security.passcode_cookies import cookie_expiry, cookie_name, cookie_opens, mint_cookie_value
from maestro_web.web.rate_limits import note_wrong_passcode, refund_passcode_try, reserve_passcode_try

FIELD_LENGTH_LIMIT = 1024  # longer than any passcode (limits.py): no argon2 work on a megabyte of text
WRONG = "That passcode is not right. Check it with the person who shared the link."
EMPTY = "Enter the passcode you were given with the link."


def _ring() -> KeyRing:
    ring: KeyRing = current_app.config["KEY_RINGS"][share_tokens.CONTEXT]
    return ring


def presented_hash(link_id: str) -> str | None:
    """The passcode hash that this request's cookie for `link_id` opens, for count_view; None without
    a valid cookie. Costs a query only when the browser sends a cookie for this link."""
    value = request.cookies.get(cookie_name(link_id))
    if value is None:
        return None
    passcode_hash = db.session.scalar(select(ShareLink.passcode_hash).where(ShareLink.public_id == link_id))
    if passcode_hash is None or not cookie_opens(value, _ring(), link_id, passcode_hash, utcnow()):
        return None
    return passcode_hash


def opened(link: ShareLink) -> bool:
    """Whether this request may see `link`: it has no passcode, or the browser holds its cookie."""
    if link.passcode_hash is None:
        return True
    return cookie_opens(
        request.cookies.get(cookie_name(link.public_id)), _ring(), link.public_id, link.passcode_hash, utcnow()
    )


def passcode_form(embed: bool, error: str | None = None, status: int = 401) -> Response:
    """The form asking for the passcode: nothing of the graph (no name, picture, figures or og: tags)."""
    g.passcode_form = True  # public_headers lets this page's form post to its own origin
    html = render_template("analytics/passcode.html", embed=embed, error=error)
    return Response(html, status=status, mimetype="text/html")


def _foreign_origin() -> bool:
    """A POST sent by another site's page: refused, see docs/sharing.md. Browsers say so in
    Sec-Fetch-Site; Origin is the fallback, and is "null" from this page itself (no-referrer)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ("same-origin", "none")
    own = urlsplit(current_app.config["MAESTRO_ANALYTICS_URL"])
    return request.headers.get("Origin") not in (None, "null", f"{own.scheme}://{own.netloc}")


def _set_cookie(response: AnyResponse, link: ShareLink, now: datetime) -> None:
    assert link.passcode_hash is not None
    expires_at = cookie_expiry(link.expires_at, now)
    analytics = urlsplit(current_app.config["MAESTRO_ANALYTICS_URL"])
    https = analytics.scheme == "https"
    # An embeddable link is opened inside another site's iframe, where a SameSite=Lax cookie is never
    # sent: there (https only) the cookie is SameSite=None and Partitioned (CHIPS), so it works in that
    # one embedding site and is not shared with any other.
    third_party = https and link.embeddable
    response.set_cookie(
        cookie_name(link.public_id),
        mint_cookie_value(_ring(), link.public_id, link.passcode_hash, expires_at),
        max_age=max(1, int(expires_at.timestamp() - now.timestamp())),
        expires=expires_at,
        path=analytics.path or "/",
        secure=https,
        httponly=True,
        samesite="None" if third_party else "Lax",
        partitioned=third_party,
    )


def enter_passcode(link: ShareLink, embed: bool) -> AnyResponse:
    """The answer to the passcode form of a link the rules allow: cookie and 303, or the form again."""
    if _foreign_origin():
        return passcode_form(
            embed, "This form must be sent from the link's own page. Open the link and try again.", 403
        )
    if link.passcode_hash is None:  # no passcode (any more): nothing to enter
        return redirect(_own_url(), 303)
    passcode = request.form.get("passcode", "")
    if not passcode:
        return passcode_form(embed, EMPTY)
    wait = reserve_passcode_try(link.public_id)
    if wait:
        response = passcode_form(embed, f"Too many wrong passcodes. Try again in {_in_words(wait)}.", 429)
        response.headers["Retry-After"] = str(wait)
        return response
    if len(passcode) > FIELD_LENGTH_LIMIT or not link.passcode_matches(passcode):
        note_wrong_passcode(link.public_id)
        return passcode_form(embed, WRONG)  # the try stays spent
    refund_passcode_try(link.public_id)
    opened_now = redirect(_own_url(), 303)
    _set_cookie(opened_now, link, utcnow())
    return opened_now


def _own_url() -> str:
    """The URL the form was posted to (the link itself, long or short), to GET it again."""
    query = request.query_string.decode("ascii", "replace")
    return f"{request.script_root}{request.path}{'?' + query if query else ''}"


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
