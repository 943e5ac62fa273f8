"""Download SVG / PNG (SPEC §9): attachments named after the graph and date, under the page's rules."""

from __future__ import annotations

import re
import struct
from datetime import UTC, date

import pytest
from picture_support import draw_with_the_reference_worker
from share_support import make_link
from worker_support import post_result

from maestro_web.domain.file_names import file_name
from maestro_web.extensions import db
from maestro_web.models import ShareLink
from maestro_web.pictures import MAX_PIXELS, MAX_SIDE, png_scale, svg_to_png
from maestro_web.security.worker_tokens import mint_worker_token

SPEC = "browser [kind=frontend] -> api\napi -> db [kind=database]\napi -> cache [kind=cache]"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == PNG_SIGNATURE
    return struct.unpack(">II", body[16:24])


@pytest.fixture
def graph(app, owner, make_graph):
    made = make_graph(owner, name="Web Shop — Überblick", spec=SPEC)
    draw_with_the_reference_worker(app, made.public_id)
    return made


def attachment_name(response) -> str:
    match = re.fullmatch(r'attachment; filename="([^"]+)"', response.headers["Content-Disposition"])
    assert match, response.headers.get("Content-Disposition")
    return match.group(1)


def test_file_names_are_an_ascii_slug_of_the_graph_name_and_the_date_it_was_drawn():
    from datetime import datetime

    drawn = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    assert file_name("Web Shop — Überblick", drawn, "svg") == "web-shop-uberblick-2026-11-30.svg"
    assert file_name('../../etc/passwd"; x', drawn, "png") == "etc-passwd-x-2026-11-30.png"
    assert file_name("日本", drawn, "svg") == "graph-2026-11-30.svg"


def test_private_svg_download_is_the_sanitized_picture_as_an_inert_attachment(app, client, auth, owner, graph):
    auth.login(owner.email)
    response = client.get(f"/analytics/graphs/{graph.public_id}/download.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert attachment_name(response) == f"web-shop-uberblick-{date.today():%Y-%m-%d}.svg"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    assert body.startswith("<svg") and 'data-node="api"' in body and 'data-source="api" data-target="db"' in body
    assert body == client.get(f"/analytics/graphs/{graph.public_id}/svg").get_data(as_text=True)


def test_private_png_download_is_rendered_at_twice_the_drawing_size(app, client, auth, owner, graph):
    auth.login(owner.email)
    svg = client.get(f"/analytics/graphs/{graph.public_id}/download.svg").get_data(as_text=True)
    width, height = (float(v) for v in re.search(r'viewBox="0 0 (\S+) (\S+)"', svg).groups())
    response = client.get(f"/analytics/graphs/{graph.public_id}/download.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert attachment_name(response).endswith(".png") and attachment_name(response).startswith("web-shop-uberblick-")
    assert png_size(response.data) == (int(width * 2), int(height * 2))


def test_private_download_needs_read_on_the_graph(app, client, auth, make_user, graph):
    anonymous = client.get(f"/analytics/graphs/{graph.public_id}/download.svg")
    # A private download is a browser page: without a session, the login page, then back here.
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == f"/auth/login?next=/analytics/graphs/{graph.public_id}/download.svg"
    stranger = make_user(email="stranger@example.com")
    auth.login(stranger.email)
    assert client.get(f"/analytics/graphs/{graph.public_id}/download.svg").status_code == 404
    assert client.get(f"/analytics/graphs/{graph.public_id}/download.png").status_code == 404


def test_unknown_format_and_no_picture_are_404(app, client, auth, owner, make_graph, graph):
    auth.login(owner.email)
    assert client.get(f"/analytics/graphs/{graph.public_id}/download.gif").status_code == 404
    undrawn = make_graph(owner, name="Not drawn yet")
    response = client.get(f"/analytics/graphs/{undrawn.public_id}/download.svg")
    assert response.status_code == 404 and "no picture yet" in response.get_data(as_text=True)


def test_public_downloads_follow_the_link_and_count_as_views(app, client, owner, graph):
    made = make_link(app, graph, owner)
    base = f"/analytics/graphs/public/{graph.public_id}"
    svg = client.get(f"{base}/download.svg?token={made.token}")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert attachment_name(svg).startswith("web-shop-uberblick-") and attachment_name(svg).endswith(".svg")
    assert svg.headers["Content-Security-Policy"].startswith("sandbox")
    assert svg.headers["Referrer-Policy"] == "no-referrer" and "noindex" in svg.headers["X-Robots-Tag"]
    png = client.get(f"{base}/download.png?token={made.token}")
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data[:8] == PNG_SIGNATURE
    assert attachment_name(png).endswith(".png")
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).view_count == 2


def test_public_downloads_refuse_like_the_page(app, client, owner, make_graph, graph):
    made = make_link(app, graph, owner)
    base = f"/analytics/graphs/public/{graph.public_id}"
    tampered = made.token[:-3] + ("aaa" if not made.token.endswith("aaa") else "bbb")
    assert client.get(f"{base}/download.svg?token={tampered}").status_code == 404
    assert client.get(f"{base}/download.png").status_code == 404  # no token at all
    other = make_graph(owner, name="Other")
    assert client.get(f"/analytics/graphs/public/{other.public_id}/download.svg?token={made.token}").status_code == 404
    with app.app_context():
        ShareLink.get_by_public_id(made.id).pause()
        db.session.commit()
    paused = client.get(f"{base}/download.png?token={made.token}")
    assert paused.status_code == 403 and "Temporarily unavailable" in paused.get_data(as_text=True)
    with app.app_context():
        ShareLink.get_by_public_id(made.id).revoke()
        db.session.commit()
    assert client.get(f"{base}/download.svg?token={made.token}").status_code == 410


def test_png_size_is_capped_for_huge_pictures():
    assert png_scale(1000, 500) == 2.0
    wide = png_scale(30_000, 200)  # a long thin picture meets the side cap first
    assert 30_000 * wide <= MAX_SIDE
    scale = png_scale(6_000, 4_000)
    assert 6_000 * scale * 4_000 * scale <= MAX_PIXELS * 1.0001 and scale < 1
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40000 100" width="40000" height="100">'
        '<rect x="0" y="0" width="40000" height="100" fill="#4e79a7"/></svg>'
    )
    width, height = png_size(svg_to_png(svg))
    assert width <= MAX_SIDE and width == int(40000 * MAX_SIDE / 40000) and height == int(100 * MAX_SIDE / 40000)


def test_the_reference_workers_picture_passes_the_sanitizer_unchanged(app, client, auth, owner, make_graph):
    made = make_graph(owner, name="Cycle", spec="a -> b\nb -> c\nc -> a\nc -> c\nlonely")
    posted = draw_with_the_reference_worker(app, made.public_id)
    auth.login(owner.email)
    stored = client.get(f"/analytics/graphs/{made.public_id}/download.svg").get_data(as_text=True)
    assert stored == posted["svg"]  # data-node, data-source, data-target, class, role, title, path d all kept
    assert 'data-source="c" data-target="c"' in stored and 'role="img"' in stored


def test_the_qr_code_of_a_link_downloads_as_a_png(app, client, auth, owner, make_user, graph):
    made = make_link(app, graph, owner, label="For the board")
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    auth.login(owner.email)
    assert f"{page}/qr.png" in client.get(page).get_data(as_text=True)  # offered on the link page
    response = client.get(f"{page}/qr.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert attachment_name(response) == "web-shop-uberblick-for-the-board-qr.png"
    width, height = png_size(response.data)
    assert width == height and width >= 200  # big enough to print
    assert response.headers["Cache-Control"] == "no-store"  # it encodes a working link
    with app.app_context():
        ShareLink.get_by_public_id(made.id).revoke()
        db.session.commit()
    assert client.get(f"{page}/qr.png").status_code == 410


def test_a_picture_too_large_to_rasterize_in_a_request_is_refused_with_a_pointer_to_the_svg(
    app, client, auth, owner, make_graph
):
    from maestro_web.pictures import MAX_PNG_SVG_BYTES

    made = make_graph(owner, name="Huge", spec="a -> b")
    boxes = "".join(
        f'<rect x="{i % 1000}" y="{i // 1000}" width="1" height="1" fill="#4e79a7"/>' for i in range(20_000)
    )
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1000 20" width="1000" height="20">{boxes}</svg>'
    assert len(svg) > MAX_PNG_SVG_BYTES
    ring = app.config["KEY_RINGS"]["analytics"]
    job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
    posted = post_result(client, ring, made.public_id, json={"run_id": job["run_id"], "status": "finished", "svg": svg})
    assert posted.status_code == 201, posted.text
    auth.login(owner.email)
    response = client.get(f"/analytics/graphs/{made.public_id}/download.png")
    assert response.status_code == 422 and "download the SVG instead" in response.get_data(as_text=True)
    assert client.get(f"/analytics/graphs/{made.public_id}/download.svg").status_code == 200


def test_the_picture_page_offers_both_downloads_and_tells_the_owner_the_runs_warning(
    app, client, auth, owner, make_graph
):
    made = make_graph(owner, name="Cycle", spec="a -> b\nb -> a")
    draw_with_the_reference_worker(app, made.public_id)
    auth.login(owner.email)
    page = client.get(f"/analytics/graphs/{made.public_id}").get_data(as_text=True)
    assert f'href="/analytics/graphs/{made.public_id}/download.svg"' in page
    assert f'href="/analytics/graphs/{made.public_id}/download.png"' in page
    assert re.search(r"<strong>Warning:</strong> 1 dependency cycle, e\.g\. (a → b → a|b → a → b)<", page)
    link = make_link(app, made, owner)
    public = client.get(link.path).get_data(as_text=True)
    assert f"/analytics/graphs/public/{made.public_id}/download.png?token={link.token}" in public
    assert "<strong>Warning:</strong>" not in public  # visitors see the picture's own legend, not the run's message
