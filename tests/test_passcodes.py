"""A passcode per share link (SPEC §10): the visitor's gate on every public path, the
passcode cookie at its edges, wrong tries throttled in the real Redis, the owner's controls.

The limiter runs on the real Redis at 127.0.0.1:6379 with a key prefix per test (as in
tests/test_rate_limits.py), so every test here sees the budgets a deployment has.
"""

from __future__ import annotations

import html
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import redis
from conftest import api_headers
from mail_support import free_port
from redis_support import REDIS_URL, delete_prefixed, limiter_on_redis
from share_support import draw, link_row, make_link

from maestro_web.extensions import db
from maestro_web.keyring import KeyRing
from maestro_web.limits import PASSCODE_MAX_LENGTH, PASSCODE_MIN_LENGTH
from maestro_web.models import Role, ShareLink
from maestro_web.models.base import utcnow
from maestro_web.security.passcode_cookies import (
    MAX_LIFETIME,
    cookie_expiry,
    cookie_name,
    cookie_opens,
    mint_cookie_value,
)
from maestro_web.security.short_codes import mint_short_code
from maestro_web.web.rate_limits import STORAGE_DOWN_RETRY_AFTER

PASSCODE = "open sesame 42"
CONTEXT = "public-analytics"
GRAPH_NAME = "Checkout"
# What the graph would leak: its name, a label of its picture, a figure, the OpenGraph tags.
LEAKS = (GRAPH_NAME, "checkout-api", "og:", "<svg", "Density", "data-live-ticket")


@pytest.fixture
def prefix() -> str:
    return f"maestro-test-{uuid.uuid4().hex}"


@pytest.fixture
def app_settings(request: pytest.FixtureRequest, prefix: str) -> Iterator[dict[str, Any]]:
    yield limiter_on_redis(request, prefix)
    client = redis.Redis.from_url(REDIS_URL)
    delete_prefixed(client, prefix)
    client.close()


@pytest.fixture
def graph(app, owner, make_graph):
    graph = make_graph(owner, name=GRAPH_NAME, spec="web -> api")
    draw(app, graph.public_id)
    return graph


@pytest.fixture
def locked(app, graph, owner):
    """A link with the passcode PASSCODE."""
    return make_link(app, graph, owner, passcode=PASSCODE)


def short_path(app, link_id: str) -> str:
    return f"/analytics/s/{mint_short_code(app.config['KEY_RINGS'][CONTEXT], link_id)}"


def views(app, link_id: str) -> int:
    return link_row(app, link_id).view_count


def assert_reveals_nothing(response) -> None:
    for leak in LEAKS:
        assert leak not in response.text, leak


def assert_asks_for_passcode(response) -> None:
    assert response.status_code == 401, response.status_code
    assert response.mimetype == "text/html"
    assert "Passcode required" in response.text and 'name="passcode"' in response.text
    assert_reveals_nothing(response)
    assert response.headers["Cache-Control"].startswith("no-store")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"]
    csp = response.headers["Content-Security-Policy"]
    assert "form-action 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def enter(client, path: str, passcode: str = PASSCODE, **headers: str):
    return client.post(path, data={"passcode": passcode}, headers=headers)


def opened_client(app, path: str):
    """A visitor's client that has entered the passcode at `path`."""
    client = app.test_client()
    response = enter(client, path)
    assert response.status_code == 303, response.text
    return client


def cookie_of(client, link_id: str) -> str:
    cookie = client.get_cookie(cookie_name(link_id), path="/analytics")
    assert cookie is not None
    return cookie.value


def set_passcode_row(app, link_id: str, passcode: str | None) -> None:
    with app.app_context():
        ShareLink.get_by_public_id(link_id).set_passcode(passcode)
        db.session.commit()


# --- the cookie value ------------------------------------------------------------------------------


def test_cookie_value_opens_only_its_link_under_its_hash_until_its_expiry():
    ring = KeyRing(CONTEXT, "k" * 40)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    value = mint_cookie_value(ring, "link-a", "$argon2id$hash-1", now + timedelta(hours=1))
    assert cookie_opens(value, ring, "link-a", "$argon2id$hash-1", now)
    assert not cookie_opens(value, ring, "link-b", "$argon2id$hash-1", now)  # another link
    assert not cookie_opens(value, ring, "link-a", "$argon2id$hash-2", now)  # the passcode changed
    assert not cookie_opens(value, ring, "link-a", "$argon2id$hash-1", now + timedelta(hours=1))  # expired
    expires, mac = value.split(".")
    later = str(int(expires) + 3600)
    assert not cookie_opens(f"{later}.{mac}", ring, "link-a", "$argon2id$hash-1", now)  # stretched
    tampered = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    assert not cookie_opens(f"{expires}.{tampered}", ring, "link-a", "$argon2id$hash-1", now)
    for garbage in ("", ".", "abc.def", "1" * 80, f"-{expires}.{mac}", None, 12):
        assert not cookie_opens(garbage, ring, "link-a", "$argon2id$hash-1", now)


def test_cookie_survives_key_rotation_while_the_old_key_is_previous():
    old, new = KeyRing(CONTEXT, "o" * 40), KeyRing(CONTEXT, "n" * 40)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    value = mint_cookie_value(old, "link-a", "h", now + timedelta(hours=1))
    assert cookie_opens(value, KeyRing(CONTEXT, new.current, (old.current,)), "link-a", "h", now)
    assert not cookie_opens(value, new, "link-a", "h", now)


def test_cookie_expiry_is_twelve_hours_at_most_and_never_past_the_link():
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert cookie_expiry(now + timedelta(days=3), now) == now + MAX_LIFETIME
    assert cookie_expiry(now + timedelta(minutes=30, microseconds=900), now) == now + timedelta(minutes=30)


# --- the gate --------------------------------------------------------------------------------------


def test_every_public_path_answers_401_and_nothing_of_the_graph(app, graph, locked):
    client = app.test_client()
    assert_asks_for_passcode(client.get(locked.path))
    embed = client.get(locked.path.replace("?token=", "/embed?token="))
    assert_asks_for_passcode(embed)
    assert "topbar" not in embed.text  # the embed keeps its chrome-less look
    assert_asks_for_passcode(client.get(short_path(app, locked.id)))
    for path in (
        locked.path + "&ext=svg",
        locked.path + "&ext=png",
        f"/analytics/graphs/public/{graph.public_id}/download.svg?token={locked.token}",
        f"/analytics/graphs/public/{graph.public_id}/download.png?token={locked.token}",
        f"/analytics/graphs/public/{graph.public_id}/live?token={locked.token}",
    ):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.mimetype == "text/html" and 'name="passcode"' not in response.text, path
        assert "Content-Disposition" not in response.headers
        assert "form-action 'none'" in response.headers["Content-Security-Policy"]
        assert_reveals_nothing(response)
    ticket = client.get(f"/analytics/graphs/public/{graph.public_id}/ticket?token={locked.token}")
    assert ticket.status_code == 401 and "ticket" not in ticket.json
    assert views(app, locked.id) == 0  # the gate never counts a view
    assert client.get_cookie(cookie_name(locked.id), path="/analytics") is None


def test_right_passcode_sets_a_scoped_cookie_and_303s_back(app, locked):
    client = app.test_client()
    response = enter(client, locked.path)
    assert response.status_code == 303
    assert response.headers["Location"] == locked.path  # the same URL, to GET
    assert "Secure" not in response.headers["Set-Cookie"]  # the analytics URL of the tests is http
    cookie = re.split(r";\s*", response.headers["Set-Cookie"])
    assert cookie[0].startswith(f"{cookie_name(locked.id)}=")
    assert {"HttpOnly", "Path=/analytics", "SameSite=Lax"} <= set(cookie)
    assert PASSCODE not in response.headers["Set-Cookie"]
    max_age = int(next(part for part in cookie if part.startswith("Max-Age=")).split("=")[1])
    assert 12 * 3600 - 5 <= max_age <= 12 * 3600
    assert views(app, locked.id) == 0  # entering the passcode is not a view


def test_the_cookie_opens_page_svg_png_download_live_and_short_link_each_counted_once(app, graph, locked):
    client = opened_client(app, locked.path)
    page = client.get(locked.path)
    assert page.status_code == 200 and GRAPH_NAME in page.text and "og:image" in page.text
    assert views(app, locked.id) == 1
    svg = client.get(locked.path + "&ext=svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and "checkout-api" in svg.text
    png = client.get(locked.path + "&ext=png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    short = client.get(short_path(app, locked.id))
    assert short.status_code == 200 and GRAPH_NAME in short.text
    download = client.get(f"/analytics/graphs/public/{graph.public_id}/download.svg?token={locked.token}")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert views(app, locked.id) == 5
    refresh_url = html.unescape(re.search(r'data-live-refresh-url="([^"]+)"', page.text).group(1))
    live = client.get(refresh_url)  # the page's own redraw, with the receipt of its counted view
    assert live.status_code == 200 and GRAPH_NAME in live.text
    ticket = client.get(f"/analytics/graphs/public/{graph.public_id}/ticket?token={locked.token}")
    assert ticket.status_code == 200 and ticket.json["ticket"]
    assert views(app, locked.id) == 5  # the page's redraw and its ticket are not views
    bare = client.get(f"/analytics/graphs/public/{graph.public_id}/live?token={locked.token}")
    assert bare.status_code == 200 and GRAPH_NAME in bare.text
    assert views(app, locked.id) == 6  # without the receipt, the redraw route is a view like the page


def test_the_short_link_form_posts_to_the_short_link(app, locked):
    path = short_path(app, locked.id)
    client = app.test_client()
    assert_asks_for_passcode(client.get(path))
    response = enter(client, path)
    assert response.status_code == 303 and response.headers["Location"] == path
    assert client.get(path).status_code == 200
    assert client.get(locked.path).status_code == 200  # the same link, long or short: one cookie
    assert views(app, locked.id) == 2


def test_wrong_or_empty_passcode_shows_the_form_again_with_the_error_under_the_field(app, locked):
    client = app.test_client()
    for passcode, message in (
        ("not the one", "That passcode is not right"),
        ("", "Enter the passcode"),
        ("x" * 5000, "That passcode is not right"),
    ):
        response = enter(client, locked.path, passcode)
        assert_asks_for_passcode(response)
        assert message in response.text
        assert 'aria-invalid="true"' in response.text and 'id="passcode-error"' in response.text
        assert "Set-Cookie" not in response.headers
        if passcode:
            assert passcode[:20] not in response.text  # never echoed
    assert client.get(locked.path).status_code == 401
    assert views(app, locked.id) == 0


def test_a_tampered_cookie_and_one_replayed_on_another_link_are_refused(app, graph, owner, locked):
    other = make_link(app, graph, owner, label="Other", passcode=PASSCODE)  # even with the same passcode
    value = cookie_of(opened_client(app, locked.path), locked.id)

    replayed = app.test_client()
    replayed.set_cookie(cookie_name(other.id), value, path="/analytics")
    assert_asks_for_passcode(replayed.get(other.path))
    assert replayed.get(other.path + "&ext=png").status_code == 401

    tampered = app.test_client()
    expires, mac = value.split(".")
    tampered.set_cookie(cookie_name(locked.id), f"{int(expires) + 86400}.{mac}", path="/analytics")
    assert_asks_for_passcode(tampered.get(locked.path))
    tampered.set_cookie(cookie_name(locked.id), f"{expires}.{mac[::-1]}", path="/analytics")
    assert_asks_for_passcode(tampered.get(locked.path))
    assert views(app, locked.id) == 0 and views(app, other.id) == 0


def test_a_cookie_with_non_ascii_characters_gets_the_form_not_a_500(app, locked):
    """hmac.compare_digest refuses non-ASCII text with a TypeError: a hostile cookie must not reach it."""
    expires = int(datetime.now(UTC).timestamp()) + 3600
    client = app.test_client()
    client.set_cookie(cookie_name(locked.id), f"{expires}.caf\u00e9-\u2603", path="/analytics")
    assert_asks_for_passcode(client.get(locked.path))
    assert client.get(locked.path + "&ext=svg").status_code == 401
    assert views(app, locked.id) == 0


def test_changing_the_passcode_ends_the_cookies(app, graph, owner, client, locked):
    visitor = opened_client(app, locked.path)
    assert visitor.get(locked.path).status_code == 200
    response = client.patch(
        f"/api/graphs/{graph.public_id}/shares/{locked.id}",
        json={"passcode": "a new secret"},
        headers=api_headers(client, owner),
    )
    assert response.status_code == 200 and response.json["has_passcode"] is True
    assert_asks_for_passcode(visitor.get(locked.path))
    assert visitor.get(locked.path + "&ext=svg").status_code == 401
    assert enter(visitor, locked.path).status_code == 401  # the old passcode no longer opens it
    assert enter(visitor, locked.path, "a new secret").status_code == 303
    assert visitor.get(locked.path).status_code == 200
    assert views(app, locked.id) == 2


def test_removing_then_adding_the_same_passcode_again_ends_the_old_cookies(app, locked):
    visitor = opened_client(app, locked.path)
    set_passcode_row(app, locked.id, None)
    stranger = app.test_client()
    assert stranger.get(locked.path).status_code == 200  # no passcode: the link opens for anyone
    set_passcode_row(app, locked.id, PASSCODE)  # the same passcode, a new hash
    assert_asks_for_passcode(visitor.get(locked.path))
    assert_asks_for_passcode(stranger.get(locked.path))


def test_the_cookie_never_outlives_the_link(app, graph, owner):
    made = make_link(app, graph, owner, lifetime=timedelta(minutes=30), passcode=PASSCODE)
    response = enter(app.test_client(), made.path)
    assert response.status_code == 303
    link_expires = link_row(app, made.id).expires_at
    header = response.headers["Set-Cookie"]
    max_age = int(re.search(r"Max-Age=(\d+)", header).group(1))
    assert 30 * 60 - 5 <= max_age <= 30 * 60
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", header).group(1))
    assert expires <= link_expires


@pytest.mark.parametrize(
    "state, status, words",
    [
        ("revoked", 410, "This link was revoked"),
        ("expired", 410, "This link has expired"),
        ("paused", 403, "Temporarily unavailable"),
        ("used up", 410, "This link was used up"),
    ],
)
def test_a_link_that_may_not_be_viewed_gets_its_refusal_not_the_form(app, graph, owner, state, status, words):
    made = make_link(app, graph, owner, passcode=PASSCODE, max_views=1)
    visitor = opened_client(app, made.path)
    with app.app_context():
        link = ShareLink.get_by_public_id(made.id)
        if state == "revoked":
            link.revoked_at = utcnow()
        elif state == "expired":
            link.expires_at = utcnow() - timedelta(seconds=1)
        elif state == "paused":
            link.paused_at = utcnow()
        else:
            link.view_count = 1
        db.session.commit()
    for client in (visitor, app.test_client()):  # with a valid cookie, and without one
        for path in (made.path, made.path + "&ext=png", short_path(app, made.id)):
            response = client.get(path)
            assert response.status_code == status, (path, response.status_code)
            assert words in response.text and "Passcode required" not in response.text
        response = enter(client, made.path)
        assert response.status_code == status and "Set-Cookie" not in response.headers
    assert views(app, made.id) == (1 if state == "used up" else 0)


def test_an_unknown_or_tampered_link_gets_404_not_the_form(app, graph, locked):
    client = app.test_client()
    assert client.get(f"/analytics/graphs/public/{graph.public_id}?token={locked.token[:-2]}xx").status_code == 404
    code = mint_short_code(app.config["KEY_RINGS"][CONTEXT], locked.id)
    altered = code[:-1] + ("B" if code[-1] != "B" else "C")
    for response in (
        client.post(f"/analytics/s/{altered}", data={"passcode": PASSCODE}),
        client.post(f"/analytics/graphs/public/{graph.public_id}?token=nope", data={"passcode": PASSCODE}),
    ):
        assert response.status_code == 404 and "Set-Cookie" not in response.headers


def test_a_link_without_passcode_is_unchanged_and_its_form_post_just_goes_back(app, graph, owner):
    made = make_link(app, graph, owner)
    client = app.test_client()
    page = client.get(made.path)
    assert page.status_code == 200 and "form-action 'none'" in page.headers["Content-Security-Policy"]
    response = enter(client, made.path)
    assert response.status_code == 303 and "Set-Cookie" not in response.headers
    assert views(app, made.id) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
    ],
)
def test_a_post_from_another_site_is_refused(app, locked, headers):
    response = enter(app.test_client(), locked.path, **headers)
    assert response.status_code == 403 and "Set-Cookie" not in response.headers
    assert "must be sent from the link" in response.text
    assert_reveals_nothing(response)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},  # a browser, no-referrer
        {"Origin": "null"},
        {},
    ],
)
def test_a_post_from_the_links_own_page_is_accepted(app, locked, headers):
    assert enter(app.test_client(), locked.path, **headers).status_code == 303


@pytest.mark.app_settings(MAESTRO_ANALYTICS_URL="https://share.example.com/analytics")
def test_https_cookies_are_secure_and_an_embeddable_links_is_partitioned(app, graph, owner):
    plain = make_link(app, graph, owner, passcode=PASSCODE)
    embeddable = make_link(
        app, graph, owner, passcode=PASSCODE, embeddable=True, origins=("https://intranet.example.com",)
    )
    header = enter(app.test_client(), plain.path).headers["Set-Cookie"]
    assert "Secure" in header and "SameSite=Lax" in header and "Partitioned" not in header
    header = enter(app.test_client(), embeddable.path).headers["Set-Cookie"]
    assert {"Secure", "SameSite=None", "Partitioned"} <= set(re.split(r";\s*", header))
    form = app.test_client().get(embeddable.path.replace("?token=", "/embed?token="))
    assert form.status_code == 401
    assert "frame-ancestors https://intranet.example.com" in form.headers["Content-Security-Policy"]


def test_the_owner_preview_shows_the_page_without_the_passcode_and_counts_nothing(app, auth, client, graph, locked):
    auth.login("owner@example.com")
    response = client.get(f"/analytics/graphs/{graph.public_id}/shares/{locked.id}/preview")
    assert response.status_code == 200 and GRAPH_NAME in response.text
    assert views(app, locked.id) == 0


def test_every_passcode_field_allows_what_the_model_checks(app, auth, client, graph, locked):
    """The visitor's form, the create form and the link page's form read their maxlength and hint from
    maestro_web/limits.py, the number ShareLink.set_passcode and the API check."""
    expected = f'maxlength="{PASSCODE_MAX_LENGTH}"'
    assert expected in app.test_client().get(locked.path).text
    auth.login("owner@example.com")
    for page in (f"/graphs/{graph.public_id}/shares", f"/graphs/{graph.public_id}/shares/{locked.id}"):
        text = client.get(page).text
        assert expected in text and f"{PASSCODE_MIN_LENGTH} to {PASSCODE_MAX_LENGTH} characters" in text, page


# --- wrong tries, throttled ------------------------------------------------------------------------


def test_one_address_gets_five_wrong_tries_per_15_minutes_then_429_even_for_the_right_one(app, locked):
    client = app.test_client()
    for _ in range(5):
        assert enter(client, locked.path, "wrong guess").status_code == 401
    refused = enter(client, locked.path, PASSCODE)
    assert refused.status_code == 429
    assert 15 * 60 - 10 <= int(refused.headers["Retry-After"]) <= 15 * 60
    assert "Too many wrong passcodes" in refused.text and "Set-Cookie" not in refused.headers
    assert_reveals_nothing(refused)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert enter(other, locked.path).status_code == 303  # another address has its own budget


def test_the_default_budgets_are_the_specs(app):
    assert app.config["MAESTRO_PASSCODE_ADDRESS_RATE_LIMIT"] == "5 per 15 minutes"
    assert app.config["MAESTRO_PASSCODE_LINK_RATE_LIMIT"] == "10 per minute"


# Smaller budgets below keep the argon2 checks (each a deliberate fraction of a second) few.
@pytest.mark.app_settings(MAESTRO_PASSCODE_ADDRESS_RATE_LIMIT="2 per 15 minutes")
def test_right_passcodes_spend_no_budget(app, locked):
    client = app.test_client()
    assert enter(client, locked.path, "wrong guess").status_code == 401
    for _ in range(3):
        assert enter(client, locked.path).status_code == 303
    assert enter(client, locked.path, "wrong guess").status_code == 401  # the 2nd wrong one
    assert enter(client, locked.path, "wrong guess").status_code == 429


@pytest.mark.app_settings(MAESTRO_PASSCODE_LINK_RATE_LIMIT="4 per minute")
def test_many_addresses_hit_the_per_link_limit_but_never_lock_out_who_knows_the_passcode(app, graph, owner, locked):
    for n in range(4):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.1.0.{n + 1}"
        assert enter(client, locked.path, f"guess number {n}").status_code == 401
    # The link's budget is spent, but a visitor who has not guessed wrong here is not refused by
    # it: the right passcode opens the link (before, this was a 429: guessers locked everyone out).
    knows = app.test_client()
    knows.environ_base["REMOTE_ADDR"] = "10.1.1.2"
    assert enter(knows, locked.path).status_code == 303
    assert knows.get(locked.path).status_code == 200
    # A fresh address may guess once; having failed, the link's budget applies to it, even for the
    # right passcode.
    fresh = app.test_client()
    fresh.environ_base["REMOTE_ADDR"] = "10.1.1.1"
    assert enter(fresh, locked.path, "one more guess").status_code == 401
    refused = enter(fresh, locked.path)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # A guesser that keeps going from its own addresses stays refused.
    again = app.test_client()
    again.environ_base["REMOTE_ADDR"] = "10.1.0.1"
    assert enter(again, locked.path, "guess again").status_code == 429
    other = make_link(app, graph, owner, label="Other", passcode=PASSCODE)
    assert enter(fresh, other.path).status_code == 303
    # A browser that holds the cookie is not throttled: viewing is not guessing.
    assert fresh.get(other.path).status_code == 200


def test_the_budgets_are_keyed_hashes_in_redis(app, locked, prefix):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    enter(client, locked.path, "wrong guess")
    keys = [key.decode() for key in redis.Redis.from_url(REDIS_URL).scan_iter(f"*{prefix}*passcode-*")]
    assert len(keys) == 3  # the address's budget, the link's, and this address's record with the link
    assert not any("10.9.8.7" in key or locked.id in key for key in keys)


CLOSED = f"redis://127.0.0.1:{free_port()}/0"  # bound and released: connecting to it is refused


@pytest.mark.app_settings(REDIS_URL=CLOSED, RATELIMIT_STORAGE_URI=CLOSED)
def test_redis_unavailable_fails_closed_with_503(app, owner, make_graph):
    # No picture: drawing one goes through the worker endpoints, which are rate limited too.
    locked = make_link(app, make_graph(owner, name=GRAPH_NAME), owner, passcode=PASSCODE)
    visitor = app.test_client()
    assert_asks_for_passcode(visitor.get(locked.path))  # showing the form needs no limiter
    response = enter(visitor, locked.path)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(STORAGE_DOWN_RETRY_AFTER)
    assert "Set-Cookie" not in response.headers and "rate-limit service cannot be reached" in response.text
    assert visitor.get(locked.path).status_code == 401


def test_the_passcode_never_reaches_a_log_line(app, graph, owner, client, locked, caplog):
    caplog.set_level(logging.DEBUG)
    visitor = app.test_client()
    enter(visitor, locked.path, "a wrong passcode here")
    enter(visitor, locked.path)
    visitor.get(locked.path)
    client.patch(
        f"/api/graphs/{graph.public_id}/shares/{locked.id}",
        json={"passcode": "short"},
        headers=api_headers(client, owner),
    )
    client.patch(
        f"/api/graphs/{graph.public_id}/shares/{locked.id}",
        json={"passcode": "the newest passcode"},
        headers=api_headers(client, owner),
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (PASSCODE, "a wrong passcode here", "the newest passcode", cookie_of(visitor, locked.id)):
        assert secret not in logged


# --- the owner's controls --------------------------------------------------------------------------


def test_api_patch_sets_changes_keeps_and_removes_the_passcode(app, graph, owner, client):
    made = make_link(app, graph, owner)
    url = f"/api/graphs/{graph.public_id}/shares/{made.id}"
    headers = api_headers(client, owner)
    assert client.patch(url, json={"passcode": PASSCODE}, headers=headers).json["has_passcode"] is True
    assert_asks_for_passcode(app.test_client().get(made.path))
    assert client.patch(url, json={"label": "Renamed"}, headers=headers).json["has_passcode"] is True  # absent: kept
    response = client.patch(url, json={"passcode": None}, headers=headers)
    assert response.status_code == 200 and response.json["has_passcode"] is False
    assert app.test_client().get(made.path).status_code == 200


@pytest.mark.parametrize("value", ["short", "x" * 129, 12345678, "", ["a list of it"]])
def test_api_patch_refuses_a_bad_passcode_naming_the_field_and_changes_nothing(
    app, graph, owner, client, locked, value
):
    response = client.patch(
        f"/api/graphs/{graph.public_id}/shares/{locked.id}",
        json={"passcode": value},
        headers=api_headers(client, owner),
    )
    assert response.status_code == 422
    assert "passcode" in response.json["fields"]
    assert "8 to 128 characters" in response.json["fields"]["passcode"]
    assert str(value) not in response.text or value == ""
    assert link_row(app, locked.id).passcode_matches(PASSCODE)


def test_the_openapi_document_offers_passcode_on_patch(client):
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]
    assert "passcode" in schemas["SharePatch"]["properties"]


def test_a_reader_cannot_change_the_passcode(app, owner, make_user, make_graph, client):
    reader = make_user(email="reader@example.com")
    graph = make_graph(owner, name="Shared", grants={reader: Role.READ})
    draw(app, graph.public_id)
    locked = make_link(app, graph, owner, passcode=PASSCODE)
    response = client.patch(
        f"/api/graphs/{graph.public_id}/shares/{locked.id}",
        json={"passcode": None},
        headers=api_headers(client, reader),
    )
    assert response.status_code == 403  # the reader sees the graph: below Write, not hidden
    assert link_row(app, locked.id).has_passcode


def link_page(graph, link_id: str) -> str:
    return f"/graphs/{graph.public_id}/shares/{link_id}"


def test_link_page_sets_changes_and_removes_the_passcode(app, auth, client, graph, owner):
    made = make_link(app, graph, owner)
    auth.login("owner@example.com")
    page = client.get(link_page(graph, made.id))
    assert "Passcode: <strong>off</strong>" in page.text and "Set passcode" in page.text

    response = client.post(
        link_page(graph, made.id) + "/passcode",
        data={**auth.form_values(link_page(graph, made.id)), "passcode": "short"},
    )
    assert response.status_code == 422
    assert re.search(r'id="passcode-error"[^>]*>A passcode has 8 to 128 characters', response.text)
    assert "short" not in re.findall(r'name="passcode"[^>]*>', response.text)[0]  # a password is never kept
    assert not link_row(app, made.id).has_passcode

    response = client.post(
        link_page(graph, made.id) + "/passcode",
        data={**auth.form_values(link_page(graph, made.id)), "passcode": PASSCODE},
    )
    assert response.status_code == 302
    page = client.get(link_page(graph, made.id))
    assert (
        "Passcode set" in page.text and "Passcode: <strong>on</strong>" in page.text and "Change passcode" in page.text
    )
    visitor = opened_client(app, made.path)

    response = client.post(
        link_page(graph, made.id) + "/passcode",
        data={**auth.form_values(link_page(graph, made.id)), "passcode": "another one here"},
    )
    assert response.status_code == 302
    assert "Passcode changed" in client.get(link_page(graph, made.id)).text
    assert_asks_for_passcode(visitor.get(made.path))

    response = client.post(
        link_page(graph, made.id) + "/passcode/remove", data=auth.form_values(link_page(graph, made.id))
    )
    assert response.status_code == 302
    page = client.get(link_page(graph, made.id))
    assert "Passcode removed" in page.text and "Passcode: <strong>off</strong>" in page.text
    assert visitor.get(made.path).status_code == 200


def test_link_page_passcode_forms_need_csrf(app, auth, client, graph, locked):
    auth.login("owner@example.com")
    assert client.post(link_page(graph, locked.id) + "/passcode", data={"passcode": "new one here"}).status_code == 400
    assert client.post(link_page(graph, locked.id) + "/passcode/remove").status_code == 400
    assert link_row(app, locked.id).passcode_matches(PASSCODE)
