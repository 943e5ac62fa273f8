"""Short links `/s/<code>` and the owner's preview (SPEC §10): the same page,
rules, headers and counting as the long link; the code is the link id and a MAC under the
public-analytics key ring."""

from __future__ import annotations

import pytest
from conftest import AuthActions, api_headers
from share_support import (
    REFUSED_STATES,
    SHARE_CONTEXT,
    link_in_state,
    link_row,
    make_link,
    set_state,
    short_code,
    visit_short,
)

from maestro_web.models import Role, ShareLink
from maestro_web.security.short_codes import (
    MAC_LENGTH,
    ShortCodeInvalid,
    mint_short_code,
    mint_view_receipt,
    verify_short_code,
    view_receipt_valid,
)
from maestro_web.security.signing import KeyRing

# --- the code --------------------------------------------------------------------------------------


def test_code_round_trips_and_a_previous_key_is_accepted():
    old, new = KeyRing(SHARE_CONTEXT, "old-secret-" + "x" * 32), KeyRing(SHARE_CONTEXT, "new-secret-" + "y" * 32)
    code = mint_short_code(old, "abcDEF_-123")
    assert verify_short_code(code, old) == "abcDEF_-123"
    assert len(code) == len("abcDEF_-123") + MAC_LENGTH
    with pytest.raises(ShortCodeInvalid):
        verify_short_code(code, new)  # rotated out
    assert verify_short_code(code, KeyRing(SHARE_CONTEXT, new.current, (old.current,))) == "abcDEF_-123"


@pytest.mark.parametrize("code", ["", "short", "a" * 200, "abc.def" + "A" * 22, None, 12345, "é" * 30])
def test_malformed_codes_are_invalid(code):
    with pytest.raises(ShortCodeInvalid):
        verify_short_code(code, KeyRing(SHARE_CONTEXT, "k" * 40))


# --- through the app ---------------------------------------------------------------------------------


def test_short_link_shows_the_same_page_with_the_same_headers_and_counts_the_view(app, owner, graph):
    made = make_link(app, graph, owner)
    long_view = app.test_client().get(made.path)
    response = visit_short(app, short_code(app, made.id))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Checkout" in text and "checkout-api" in text
    for header in ("Cache-Control", "Referrer-Policy", "X-Robots-Tag", "Content-Security-Policy", "X-Frame-Options"):
        assert response.headers.get(header) == long_view.headers.get(header), header
    assert link_row(app, made.id).view_count == 2  # the long view and the short one
    svg = visit_short(app, short_code(app, made.id), "?ext=svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert link_row(app, made.id).view_count == 3


def test_tampered_code_another_links_mac_and_another_contexts_key_are_404(app, owner, graph):
    made, other = make_link(app, graph, owner), make_link(app, graph, owner, label="Other")
    code = short_code(app, made.id)
    flipped = code[:-1] + ("A" if code[-1] != "A" else "B")
    foreign = mint_short_code(app.config["KEY_RINGS"]["analytics"], made.id)  # the worker context's key
    swapped = made.id + short_code(app, other.id)[-MAC_LENGTH:]
    for bad in (flipped, made.id, foreign, swapped, code[:-1]):
        response = visit_short(app, bad)
        assert response.status_code == 404, bad
        assert "Checkout" not in response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
    assert link_row(app, made.id).view_count == 0


def test_rotation_keeps_short_links_until_the_previous_key_is_dropped(app, owner, graph):
    made = make_link(app, graph, owner)
    code = short_code(app, made.id)
    old = app.config["KEY_RINGS"][SHARE_CONTEXT]
    app.config["KEY_RINGS"][SHARE_CONTEXT] = KeyRing(SHARE_CONTEXT, "rotated-" + "z" * 40, (old.current,))
    assert visit_short(app, code).status_code == 200
    assert short_code(app, made.id) != code
    app.config["KEY_RINGS"][SHARE_CONTEXT] = KeyRing(SHARE_CONTEXT, "rotated-" + "z" * 40)
    assert visit_short(app, code).status_code == 404


@pytest.mark.parametrize("state, status", REFUSED_STATES)
def test_link_states_refuse_the_short_link_like_the_long_one(app, owner, graph, state, status):
    made = link_in_state(app, graph, owner, state)
    code = short_code(app, made.id)
    if state == "used up":
        assert visit_short(app, code).status_code == 200
    for query in ("", "?ext=svg", "?ext=png"):
        response = visit_short(app, code, query)
        assert response.status_code == status, query
        assert "Checkout" not in response.get_data(as_text=True)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert app.test_client().get(made.path).status_code == status


def test_deleted_graph_and_creator_without_write_are_404(app, auth, client, owner, writer, graph):
    by_writer, by_owner = make_link(app, graph, writer), make_link(app, graph, owner)
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/access"
    client.post(page, data={**auth.form_values(page), "email": writer.email, "role": str(int(Role.READ))})
    assert visit_short(app, short_code(app, by_writer.id)).status_code == 404
    assert visit_short(app, short_code(app, by_writer.id), "?ext=png").status_code == 404
    assert visit_short(app, short_code(app, by_owner.id)).status_code == 200
    page = f"/graphs/{graph.public_id}/delete"
    assert client.post(page, data={**auth.form_values(page), "confirm_name": graph.name}).status_code == 302
    assert visit_short(app, short_code(app, by_owner.id)).status_code == 404
    assert visit_short(app, short_code(app, by_owner.id), "?ext=png").status_code == 404


def test_api_and_link_page_carry_the_short_link_and_the_qr_code_encodes_it(app, auth, client, owner, graph):
    made = make_link(app, graph, owner)
    headers = api_headers(client, owner)
    body = client.get(f"/api/graphs/{graph.public_id}/shares", headers=headers).json
    item = next(item for item in body["items"] if item["id"] == made.id)
    base = app.config["MAESTRO_ANALYTICS_URL"]
    assert item["short_url"] == f"{base}/s/{short_code(app, made.id)}"
    assert item["image_url"] == f"{item['url']}&ext=png"
    assert len(item["short_url"]) < len(item["url"]) / 3
    auth.login(owner.email)
    html = client.get(f"/graphs/{graph.public_id}/shares/{made.id}").get_data(as_text=True)
    assert f'id="share-short-url" type="text" readonly value="{item["short_url"]}"' in html
    assert 'data-copy="#share-short-url"' in html
    from maestro_web.shares.snippets import qr_svg

    with app.app_context():
        import segno

        link = ShareLink.get_by_public_id(made.id)
        assert (
            qr_svg(link)
            and segno.make(item["short_url"], error="m").version < segno.make(item["url"], error="m").version
        )


# --- owner preview ----------------------------------------------------------------------------------


def test_preview_shows_the_visitor_page_uncounted_to_writers_only(app, auth, client, owner, reader, graph):
    made = make_link(app, graph, owner, max_views=1)
    preview = f"/analytics/graphs/{graph.public_id}/shares/{made.id}/preview"
    auth.login(owner.email)
    page = client.get(f"/graphs/{graph.public_id}/shares/{made.id}").get_data(as_text=True)
    assert f'href="{preview}"' in page
    for _ in range(3):
        response = client.get(preview)
        assert response.status_code == 200 and "checkout-api" in response.get_data(as_text=True)
        assert 'class="topbar"' in response.get_data(as_text=True) and "Shared graph · read-only" in response.get_data(
            as_text=True
        )
    assert link_row(app, made.id).view_count == 0
    set_state(app, made.id, "paused")
    paused = client.get(preview)
    assert paused.status_code == 403 and "Temporarily unavailable" in paused.get_data(as_text=True)
    reader_client = app.test_client()
    AuthActions(reader_client).login(reader.email)
    assert reader_client.get(preview).status_code == 403  # Read is not enough, as on the link page
    assert link_row(app, made.id).view_count == 0


def test_a_short_code_never_reaches_a_log_line(app, owner, graph):
    from maestro_web.logs import redact

    made = make_link(app, graph, owner)
    code = short_code(app, made.id)
    line = f'127.0.0.1 - [30/Nov/2026] "GET /analytics/s/{code} HTTP/1.1" 200 1234'
    assert code not in redact(line) and made.id not in redact(line) and "/analytics/s/[redacted]" in redact(line)


@pytest.mark.parametrize("receipt", ["é" * MAC_LENGTH, "\u2028" * MAC_LENGTH, "a" * (MAC_LENGTH - 1) + "\udcff"])
def test_a_view_receipt_of_non_ascii_text_is_refused_not_a_crash(receipt):
    """`/live?seen=` comes from the visitor; compare_digest raises TypeError on non-ASCII text (a 500)."""
    ring = KeyRing("share", "a-test-secret-that-is-long-enough-for-the-key-ring-0123456789")
    assert view_receipt_valid(ring, "AbCdEf012345", mint_view_receipt(ring, "AbCdEf012345")) is True
    assert view_receipt_valid(ring, "AbCdEf012345", receipt) is False
