"""The image link (`&ext=png`) and OpenGraph tags: a PNG of the current picture
under the page's rules and headers, counted as a view; capped with a clear answer."""

from __future__ import annotations

import re
import struct

import pytest
from conftest import api_headers
from share_support import (
    REFUSED_STATES,
    SHARE_CONTEXT,
    link_in_state,
    link_row,
    make_link,
    short_code,
    visit,
    visit_short,
)

from maestro_web import pictures
from maestro_web.models import Role
from maestro_web.security.short_codes import mint_short_code
from maestro_web.security.signing import KeyRing

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image(app, made):
    return visit(app, made, "&ext=png")


def short_image(app, made, code=None):
    return visit_short(app, code or short_code(app, made.id), "?ext=png")


def test_image_link_is_an_inline_png_with_the_page_headers_and_counts_a_view(app, owner, graph):
    made = make_link(app, graph, owner)
    page = app.test_client().get(made.path)
    for response in (image(app, made), short_image(app, made)):
        assert response.status_code == 200 and response.mimetype == "image/png"
        assert response.data[:8] == PNG_SIGNATURE
        assert struct.unpack(">II", response.data[16:24]) == (240, 80)  # the 120×40 drawing at twice its size
        assert "Content-Disposition" not in response.headers  # inline: chat apps show it
        for header in ("Cache-Control", "Referrer-Policy", "X-Robots-Tag", "X-Content-Type-Options"):
            assert response.headers.get(header) == page.headers.get(header), header
    assert link_row(app, made.id).view_count == 3


@pytest.mark.parametrize("state, status", REFUSED_STATES)
def test_a_refused_link_gets_no_image(app, owner, graph, state, status):
    made = link_in_state(app, graph, owner, state)
    if state == "used up":
        assert image(app, made).status_code == 200
    for response in (image(app, made), short_image(app, made)):
        assert response.status_code == status and response.mimetype == "text/html"
        assert PNG_SIGNATURE not in response.data


def test_revocation_stops_the_image_at_once(app, auth, client, owner, graph):
    made = make_link(app, graph, owner)
    assert image(app, made).status_code == 200
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    client.post(page + "/revoke", data=auth.form_values(page))
    assert image(app, made).status_code == 410 and short_image(app, made).status_code == 410


def test_tampered_token_rotated_out_key_deleted_graph_and_creator_without_write(
    app, auth, client, owner, writer, graph
):
    made, by_writer = make_link(app, graph, owner), make_link(app, graph, writer)
    tampered = app.test_client().get(made.path[:-2] + ("AA" if not made.path.endswith("AA") else "BB") + "&ext=png")
    assert tampered.status_code == 404
    old = app.config["KEY_RINGS"][SHARE_CONTEXT]
    code = mint_short_code(old, made.id)  # minted before the rotation
    app.config["KEY_RINGS"][SHARE_CONTEXT] = KeyRing(SHARE_CONTEXT, "previous-accepted-" + "q" * 30, (old.current,))
    assert image(app, made).status_code == 200 and short_image(app, made, code).status_code == 200
    app.config["KEY_RINGS"][SHARE_CONTEXT] = KeyRing(SHARE_CONTEXT, "previous-accepted-" + "q" * 30)
    assert image(app, made).status_code == 404 and short_image(app, made, code).status_code == 404
    app.config["KEY_RINGS"][SHARE_CONTEXT] = old
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/access"
    client.post(page, data={**auth.form_values(page), "email": writer.email, "role": str(int(Role.READ))})
    assert image(app, by_writer).status_code == 404 and short_image(app, by_writer).status_code == 404
    page = f"/graphs/{graph.public_id}/delete"
    assert client.post(page, data={**auth.form_values(page), "confirm_name": "Checkout"}).status_code == 302
    assert image(app, made).status_code == 404 and short_image(app, made).status_code == 404


def test_too_large_a_picture_gets_a_clear_422(app, owner, graph, monkeypatch):
    made = make_link(app, graph, owner)
    monkeypatch.setattr(pictures, "MAX_PNG_SVG_BYTES", 10)  # the stored picture is far above 10 bytes
    response = image(app, made)
    assert response.status_code == 422
    assert "too large" in response.get_data(as_text=True) and "ext" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_opengraph_tags_are_present_and_absolute(app, client, owner, graph):
    made = make_link(app, graph, owner)
    base = app.config["MAESTRO_ANALYTICS_URL"]
    assert base.startswith("http")
    code = mint_short_code(app.config["KEY_RINGS"][SHARE_CONTEXT], made.id)
    for path, expected in (
        (made.path, f"{base}{made.path.removeprefix('/analytics')}&amp;ext=png"),
        (f"/analytics/s/{code}", f"{base}/s/{code}?ext=png"),
    ):
        html = app.test_client().get(path).get_data(as_text=True)
        assert '<meta property="og:title" content="Checkout">' in html
        assert re.search(r'<meta property="og:description" content="Shared graph[^"]*">', html)
        og_image = re.search(r'<meta property="og:image" content="([^"]+)">', html).group(1)
        assert og_image == expected
        fetched = app.test_client().get(og_image.replace("&amp;", "&").removeprefix(base.removesuffix("/analytics")))
        assert fetched.status_code == 200 and fetched.mimetype == "image/png"
    body = client.get(f"/api/graphs/{graph.public_id}/shares", headers=api_headers(client, owner)).json
    assert body["items"][0]["image_url"].startswith(base) and body["items"][0]["image_url"].endswith("&ext=png")
