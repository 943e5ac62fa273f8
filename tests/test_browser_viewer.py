"""The picture viewer in a real headless Chromium (SPEC §9): fitted on load, Fit and 100 %, pinch,
keys, highlighting, a picture swapped in by live updates, and the downloads.

Every wait is Playwright's auto-waiting (`expect`, `wait_for_function`); screenshots of the private
and public picture pages at 1280 and 390 px go to each test's `shots` folder (with MAESTRO_SHOTS set, conftest.py) for a person to look at.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from conftest import log_in
from picture_support import draw_with_the_reference_worker, platform_spec
from playwright.sync_api import expect
from share_support import make_link

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# The whole picture inside the box (1 px tolerance), centred, and filling it along one axis.
FITTED_JS = """() => {
  const box = document.querySelector('[data-panzoom]');
  const svg = box && box.querySelector('svg');
  if (!svg || box.getAttribute('data-fitted') !== '1') return false;
  const b = box.getBoundingClientRect(), s = svg.getBoundingClientRect();
  const inner = {left: b.left + box.clientLeft, top: b.top + box.clientTop,
                 right: b.left + box.clientLeft + box.clientWidth, bottom: b.top + box.clientTop + box.clientHeight};
  const inside = s.left >= inner.left - 1 && s.top >= inner.top - 1 && s.right <= inner.right + 1 && s.bottom <= inner.bottom + 1;
  const centred = Math.abs((s.left - inner.left) - (inner.right - s.right)) <= 2
               && Math.abs((s.top - inner.top) - (inner.bottom - s.bottom)) <= 2;
  const fills = Math.abs(s.width - box.clientWidth) <= 2 || Math.abs(s.height - box.clientHeight) <= 2;
  return inside && centred && fills && s.width > 50;
}"""


@pytest.fixture
def graph(app, owner, make_graph):
    made = make_graph(owner, name="Platform", spec=platform_spec())
    draw_with_the_reference_worker(app, made.public_id)
    return made


def open_private(browser, base, graph, viewport, **options):
    context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
    page = context.new_page()
    log_in(page, base, "owner@example.com")
    page.goto(f"{base}/analytics/graphs/{graph.public_id}")
    return page


def zoom_level(page):
    return page.locator("[data-zoom-level]")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_a_55_node_picture_opens_fitted_and_centred(shots, browser, live_server, graph, viewport, app, owner):
    page = open_private(browser, live_server.url, graph, viewport)
    expect(page.locator("[data-panzoom] g.node")).to_have_count(55)
    page.wait_for_function(FITTED_JS)
    # The box takes the picture's shape: no taller than most of the window.
    page.wait_for_function(f"() => document.querySelector('[data-panzoom]').clientHeight <= {viewport['height']} * 0.8")
    shots(page, f"private-{viewport['width']}.png", full_page=True)

    made = make_link(app, graph, owner)
    public = page.context.browser.new_context(viewport=viewport).new_page()
    public.goto(f"{live_server.url}{made.path}")
    expect(public.locator("[data-panzoom] g.node")).to_have_count(55)
    public.wait_for_function(FITTED_JS)
    expect(public.get_by_role("link", name="Download SVG")).to_be_visible()
    shots(public, f"public-{viewport['width']}.png", full_page=True)


def test_fit_and_actual_size_buttons_wheel_and_arrow_keys(browser, live_server, graph):
    page = open_private(browser, live_server.url, graph, DESKTOP)
    box = page.locator("[data-panzoom]")
    expect(box).to_have_attribute("data-fitted", "1")
    fitted_text = zoom_level(page).text_content()
    assert fitted_text != "100 %"  # 55 nodes do not fit at full size

    page.get_by_role("button", name="Actual size").click()
    expect(zoom_level(page)).to_have_text("100 %")
    expect(box).to_have_attribute("data-fitted", "0")
    page.get_by_role("button", name="Fit").click()
    expect(zoom_level(page)).to_have_text(fitted_text)
    page.wait_for_function(FITTED_JS)

    page.get_by_role("button", name="Zoom in").click()
    expect(zoom_level(page)).not_to_have_text(fitted_text)
    page.get_by_role("button", name="Fit").click()
    page.wait_for_function(FITTED_JS)

    page.locator("[data-panzoom]").hover()
    page.mouse.wheel(0, -400)
    expect(box).to_have_attribute("data-fitted", "0")
    page.wait_for_function(
        f"() => parseFloat(document.querySelector('[data-panzoom]').dataset.scale) > "
        f"{float(fitted_text.split()[0]) / 100}"
    )

    stage = page.locator(".panzoom-stage")
    before = stage.get_attribute("style")
    box.focus()
    page.keyboard.press("ArrowLeft")
    expect(stage).not_to_have_attribute("style", before)
    page.keyboard.press("0")
    page.wait_for_function(FITTED_JS)


def test_pinch_zooms_in_with_two_fingers(browser, live_server, graph):
    page = open_private(browser, live_server.url, graph, PHONE, has_touch=True, is_mobile=True)
    box = page.locator("[data-panzoom]")
    expect(box).to_have_attribute("data-fitted", "1")
    start_scale = float(box.get_attribute("data-scale"))
    # The graph's nine tabs take two lines at most on a phone (a third, "Delete" alone, came with Reports
    # and pushed the box's centre below the fold).
    tab_lines = page.evaluate(
        "() => new Set([...document.querySelectorAll('.graph-tabs .tabs a')]"
        ".map(a => Math.round(a.getBoundingClientRect().top))).size"
    )
    assert tab_lines == 2, tab_lines
    # The fingers land where a person's would: on the picture as it is on screen.
    box.scroll_into_view_if_needed()
    rect = box.bounding_box()
    cx, cy = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
    assert 0 < cy < PHONE["height"], rect
    cdp = page.context.new_cdp_session(page)

    def touch(kind, spread):
        points = (
            [] if kind == "touchEnd" else [{"x": cx - spread, "y": cy, "id": 1}, {"x": cx + spread, "y": cy, "id": 2}]
        )
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 20)
    for spread in (30, 45, 60, 80):
        touch("touchMove", spread)
    touch("touchEnd", 0)
    # Fingers 40 px apart moved to 160 px apart: about four times the scale.
    page.wait_for_function(
        f"() => parseFloat(document.querySelector('[data-panzoom]').dataset.scale) > {start_scale * 3}"
    )
    expect(box).to_have_attribute("data-fitted", "0")

    # One finger drags the picture.
    stage = page.locator(".panzoom-stage")
    before = stage.get_attribute("style")
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": cx, "y": cy, "id": 3}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": cx - 60, "y": cy - 30, "id": 3}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(stage).not_to_have_attribute("style", before)


def test_pointing_at_or_focusing_a_node_lights_its_edges_and_neighbours(shots, browser, live_server, graph):
    page = open_private(browser, live_server.url, graph, DESKTOP)
    page.get_by_role("button", name="Actual size").click()
    node = page.locator('[data-panzoom] g.node[data-node="auth-service"]')
    node.focus()
    expect(node).to_have_class(re.compile(r"\bis-focus\b"))
    lit = page.locator("[data-panzoom] g.edge.is-lit")
    # auth-service: three gateways point at it, it points at user-directory and shared-cache.
    expect(lit).to_have_count(5)
    expect(page.locator('[data-panzoom] g.node[data-node="user-directory"]')).to_have_class(re.compile(r"\bis-near\b"))
    expect(page.locator('[data-panzoom] g.node[data-node="service-7"]')).not_to_have_class(re.compile(r"\bis-near\b"))
    expect(page.locator("[data-panzoom] svg")).to_have_class(re.compile(r"\bhas-focus\b"))
    shots(page.locator("[data-viewer]"), "highlight-1280.png")

    page.get_by_role("button", name="Fit").focus()
    expect(lit).to_have_count(0)
    page.get_by_role("button", name="Fit").click()
    page.locator('[data-panzoom] g.node[data-node="events"]').hover()
    expect(page.locator('[data-panzoom] g.edge[data-target="events"].is-lit')).to_have_count(8)


def test_a_picture_replaced_by_live_updates_is_set_up_and_fitted(browser, live_server, graph):
    page = open_private(browser, live_server.url, graph, DESKTOP)
    expect(page.locator("[data-panzoom]")).to_have_attribute("data-fitted", "1")
    # What live.js does on a redraw: fetch the page, swap the region's contents, dispatch the event.
    page.evaluate("""async () => {
      const html = await (await fetch(location.href)).text();
      const doc = new DOMParser().parseFromString(html, 'text/html');
      const region = document.querySelector('[data-live-picture]');
      region.innerHTML = doc.querySelector('[data-live-picture]').innerHTML;
      region.querySelector('[data-panzoom]').setAttribute('data-swapped', '1');
      region.dispatchEvent(new CustomEvent('picture:replaced', {bubbles: true}));
    }""")
    swapped = page.locator("[data-panzoom][data-swapped]")
    expect(swapped).to_have_attribute("data-fitted", "1")
    page.wait_for_function(FITTED_JS)
    page.get_by_role("button", name="Actual size").click()
    expect(zoom_level(page)).to_have_text("100 %")


@pytest.mark.parametrize(
    "kind, content_type, signature", [("svg", "image/svg+xml", b"<svg"), ("png", "image/png", b"\x89PNG")]
)
def test_downloads_are_named_after_the_graph_and_date(
    browser, live_server, graph, app, owner, kind, content_type, signature
):
    today = f"{date.today():%Y-%m-%d}"
    page = open_private(browser, live_server.url, graph, DESKTOP)
    link = page.get_by_role("link", name=f"Download {kind.upper()}")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == f"platform-{today}.{kind}"
    with open(download.path(), "rb") as saved:
        assert saved.read(8).startswith(signature)
    response = page.context.request.get(live_server.url + link.get_attribute("href"))
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["content-disposition"] == f'attachment; filename="platform-{today}.{kind}"'

    made = make_link(app, graph, owner)
    public = browser.new_context(accept_downloads=True).new_page()
    public.goto(f"{live_server.url}{made.path}")
    with public.expect_download() as info:
        public.get_by_role("link", name=f"Download {kind.upper()}").click()
    assert info.value.suggested_filename == f"platform-{today}.{kind}"


CYCLE = "a -> b\nb -> c\nc -> a\nc -> c\nlonely"
WEB_SHOP = (
    "browser [kind=frontend] -> web [kind=frontend]\nbrowser -> cdn [kind=external]\nweb -> api\napi -> auth\n"
    "api -> catalog\napi -> cart\napi -> orders\norders -> payments\npayments -> stripe [kind=external]\n"
    "orders -> queue [kind=queue]\nworker -> queue\nworker -> db [kind=database]\nworker -> mailer\n"
    "catalog -> search\ncatalog -> db\ncart -> cache [kind=cache]\norders -> db\nauth -> db"
)


def test_the_embed_page_fills_its_frame(shots, browser, live_server, app, owner, make_graph):
    graph = make_graph(owner, name="Cycle", spec=CYCLE)
    draw_with_the_reference_worker(app, graph.public_id)
    made = make_link(app, graph, owner)
    page = browser.new_context(viewport={"width": 640, "height": 420}).new_page()
    page.goto(f"{live_server.url}/analytics/graphs/public/{graph.public_id}/embed?token={made.token}")
    expect(page.locator("[data-panzoom] g.edge")).to_have_count(4)
    page.wait_for_function(FITTED_JS)
    # The box reaches the bottom of the frame (less the page's padding), whatever the picture's shape.
    page.wait_for_function(
        "() => { const b = document.querySelector('[data-panzoom]').getBoundingClientRect();"
        " return b.bottom >= window.innerHeight - 24 && b.bottom <= window.innerHeight; }"
    )
    shots(page, "embed-cycle-640.png")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_the_web_shop_opens_whole_on_a_phone_and_a_desktop(
    shots, browser, live_server, app, owner, make_graph, viewport
):
    graph = make_graph(owner, name="Web shop", spec=WEB_SHOP)
    draw_with_the_reference_worker(app, graph.public_id)
    page = open_private(browser, live_server.url, graph, viewport)
    expect(page.locator("[data-panzoom] g.node")).to_have_count(16)
    page.wait_for_function(FITTED_JS)
    shots(page, f"web-shop-{viewport['width']}.png", full_page=True)
