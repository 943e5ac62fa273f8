"""A phone and a dark screen can read the shared picture, in a real headless Chromium (SPEC §9, §10):
Full screen at a readable size (the Fullscreen API, or the page's own layer where it is missing or
refused), hints in the device's words, no focus ring after a mouse drag, the zoom kept across a
redraw, the picture in the page's theme, the link page's image link, and the responsive themed embed.

At 1280 px and at 390 px (a phone: touch, mobile viewport), light and dark. Every wait is
Playwright's auto-waiting (`expect`, `wait_for_function`). Screenshots go to each test's `shots` folder (with MAESTRO_SHOTS set, conftest.py).
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import log_in
from picture_support import draw_with_the_reference_worker
from playwright.sync_api import expect
from share_support import make_link

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DEVICES = [pytest.param(DESKTOP, id="1280"), pytest.param(PHONE, id="390")]
SCHEMES = ["light", "dark"]
READABLE_CSS_PX = 9

# 18 boxes, long names, one cycle: the picture that opened at 26 % on a phone.
PAYMENTS = """mobile-app [kind=frontend] -> api-gateway
web-frontend [kind=frontend] -> api-gateway
api-gateway -> identity-service
api-gateway -> checkout-orchestrator
api-gateway -> product-catalog-service
identity-service -> users-postgres [kind=database]
checkout-orchestrator -> shipping-quote-service
shipping-quote-service -> carrier-api [kind=external]
checkout-orchestrator -> pricing-engine
pricing-engine -> redis-cache [kind=cache]
checkout-orchestrator -> payment-authorization-service
payment-authorization-service -> fraud-scoring
fraud-scoring -> customer-risk-profile
payment-authorization-service -> card-network-adapter [kind=external]
checkout-orchestrator -> inventory-reservation-service
inventory-reservation-service -> inventory-postgres [kind=database]
checkout-orchestrator -> order-events [kind=queue]
product-catalog-service -> inventory-postgres
customer-risk-profile -> checkout-orchestrator"""

# The smallest label height (CSS px, from getBoundingClientRect) among the labels wholly inside the
# full-screen box, and how many there are.
VISIBLE_LABELS_JS = """() => {
  const box = document.querySelector('.is-fullscreen [data-panzoom]');
  if (!box) return {count: 0, smallest: 0};
  const b = box.getBoundingClientRect();
  let count = 0, smallest = Infinity;
  for (const text of box.querySelectorAll('g.node text')) {
    const r = text.getBoundingClientRect();
    if (r.left >= b.left && r.right <= b.right && r.top >= b.top && r.bottom <= b.bottom) {
      count += 1; smallest = Math.min(smallest, r.height);
    }
  }
  return {count, smallest: count ? smallest : 0};
}"""
READABLE_JS = (
    f"() => {{ const seen = ({VISIBLE_LABELS_JS})(); return seen.count >= 3 && seen.smallest >= {READABLE_CSS_PX}; }}"
)
# What live.js does on a redraw: fetch the page, swap the picture region's contents, announce it.
REDRAW_JS = """async () => {
  const html = await (await fetch(location.href)).text();
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const region = document.querySelector('[data-live-picture]');
  region.innerHTML = doc.querySelector('[data-live-picture]').innerHTML;
  region.querySelector('[data-panzoom]').setAttribute('data-swapped', '1');
  region.dispatchEvent(new CustomEvent('picture:replaced', {bubbles: true}));
}"""


@pytest.fixture
def payments(app, owner, make_graph):
    graph = make_graph(owner, name="Payments platform", spec=PAYMENTS)
    draw_with_the_reference_worker(app, graph.public_id)
    return graph


def shot(shots, page, name: str, full_page: bool = True) -> None:
    """A screenshot for a person to look at. On a touch screen, of the window only: Chromium takes a
    full-page one by resizing the emulated screen, which drops the touch media queries meanwhile."""
    touch = page.evaluate("matchMedia('(hover: none)').matches")
    shots(page, f"{name}.png", full_page=full_page and not touch)


def visitor(browser, device: dict, scheme: str = "light", **options):
    return browser.new_context(color_scheme=scheme, **device, **options).new_page()


def drag(page, device: dict, start: tuple[float, float], end: tuple[float, float]) -> None:
    """One finger on a touch screen, the mouse elsewhere."""
    if device.get("has_touch"):
        cdp = page.context.new_cdp_session(page)
        steps = [(start[0] + (end[0] - start[0]) * i / 4, start[1] + (end[1] - start[1]) * i / 4) for i in range(5)]
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1], "id": 1}]}
        )
        for x, y in steps[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y, "id": 1}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    else:
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=5)
        page.mouse.up()


def pinch(page, centre: tuple[float, float]) -> None:
    cdp = page.context.new_cdp_session(page)
    cx, cy = centre

    def touch(kind, spread):
        points = (
            [] if kind == "touchEnd" else [{"x": cx - spread, "y": cy, "id": 1}, {"x": cx + spread, "y": cy, "id": 2}]
        )
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 20)
    for spread in (30, 45, 60):
        touch("touchMove", spread)
    touch("touchEnd", 0)


def scale_of(page) -> float:
    return float(page.locator("[data-panzoom]").get_attribute("data-scale"))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("device", DEVICES)
def test_full_screen_opens_the_picture_readable_with_pan_and_pinch(
    shots, browser, live_server, app, owner, payments, device, scheme
):
    made = make_link(app, payments, owner)
    page = visitor(browser, device, scheme)
    page.goto(live_server.url + made.path)
    box = page.locator("[data-panzoom]")
    expect(box).to_have_attribute("data-fitted", "1")
    expect(page.locator("[data-panzoom] g.node")).to_have_count(18)
    width = device["viewport"]["width"]
    if width < 600:
        # On a phone the inline box is tall enough to pinch in, and Full screen comes first, full width.
        page.wait_for_function(
            "() => document.querySelector('[data-panzoom]').clientHeight >= window.innerHeight * 0.33"
        )
        button_box = page.get_by_role("button", name="Full screen").bounding_box()
        toolbar_box = page.locator(".viewer-toolbar").bounding_box()
        assert button_box["width"] >= toolbar_box["width"] - 2 and abs(button_box["y"] - toolbar_box["y"]) <= 2
    shot(shots, page, f"public-{width}-{scheme}")

    page.get_by_role("button", name="Full screen").click()
    host = page.locator("[data-live-picture]")
    expect(host).to_have_class(re.compile(r"\bis-fullscreen\b"))
    expect(page.get_by_role("button", name="Exit full screen")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(READABLE_JS)
    # Chromium grants the Fullscreen API to the picture's region (the fallback is tested below).
    expect(host).to_have_attribute("data-fullscreen", "api")
    page.wait_for_function("() => document.fullscreenElement === document.querySelector('[data-live-picture]')")
    # The picture takes the screen: the box fills most of it.
    page.wait_for_function(
        "() => { const b = document.querySelector('[data-panzoom]').getBoundingClientRect();"
        " return b.height >= window.innerHeight * 0.6 && b.width >= window.innerWidth * 0.9; }"
    )
    shot(shots, page, f"fullscreen-{width}-{scheme}", full_page=False)

    # Pan (one finger or the mouse) and, on touch, pinch.
    stage = page.locator("[data-live-picture] .panzoom-stage")
    before = stage.get_attribute("style")
    rect = box.bounding_box()
    centre = (rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2)
    drag(page, device, centre, (centre[0] - 80, centre[1] - 40))
    expect(stage).not_to_have_attribute("style", before)
    if device.get("has_touch"):
        start = scale_of(page)
        pinch(page, centre)
        page.wait_for_function(
            f"() => parseFloat(document.querySelector('[data-panzoom]').dataset.scale) > {start * 1.8}"
        )

    page.get_by_role("button", name="Exit full screen").click()
    expect(host).not_to_have_class(re.compile(r"\bis-fullscreen\b"))
    expect(page.get_by_role("button", name="Full screen")).to_have_attribute("aria-pressed", "false")
    expect(box).to_have_attribute("data-fitted", "1")  # back to the inline view it left
    expect(page.locator("html")).not_to_have_class(re.compile(r"has-fullscreen-viewer"))
    page.wait_for_function("() => document.fullscreenElement === null")


@pytest.mark.parametrize("device", DEVICES)
def test_the_owners_private_viewer_has_full_screen_too(browser, live_server, payments, device):
    page = visitor(browser, device, "dark")
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/analytics/graphs/{payments.public_id}")
    expect(page.locator("[data-panzoom]")).to_have_attribute("data-fitted", "1")
    page.get_by_role("button", name="Full screen").click()
    page.wait_for_function(READABLE_JS)
    # The browser's own way out (Escape, the back gesture) brings the page back as well.
    page.evaluate("document.exitFullscreen()")
    expect(page.locator("[data-live-picture]")).not_to_have_class(re.compile(r"\bis-fullscreen\b"))
    expect(page.get_by_role("button", name="Full screen")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("[data-panzoom]")).to_have_attribute("data-fitted", "1")


@pytest.mark.parametrize(
    "device, refusal",
    [pytest.param(PHONE, "missing", id="390-no-api"), pytest.param(DESKTOP, "refused", id="1280-refused")],
)
def test_full_screen_without_the_api_is_the_pages_own_layer(
    browser, live_server, app, owner, payments, device, refusal
):
    """iPhone Safari has no Fullscreen API for a page's elements; an iframe without allow="fullscreen"
    refuses it: the viewer then covers the window itself, readable the same, and Escape closes it."""
    made = make_link(app, payments, owner)
    context = browser.new_context(**device)
    context.add_init_script(
        "Object.defineProperty(Document.prototype, 'fullscreenEnabled', {get: () => false});"
        "Element.prototype.requestFullscreen = undefined; Element.prototype.webkitRequestFullscreen = undefined;"
        if refusal == "missing"
        else "Element.prototype.requestFullscreen = function () { return Promise.reject(new TypeError('refused')); };"
    )
    page = context.new_page()
    page.goto(live_server.url + made.path)
    expect(page.locator("[data-panzoom]")).to_have_attribute("data-fitted", "1")
    page.mouse.wheel(0, 600)  # scrolled down the page a little: the layer still covers the window
    page.get_by_role("button", name="Full screen").click()
    host = page.locator("[data-live-picture]")
    expect(host).to_have_attribute("data-fullscreen", "css")
    page.wait_for_function(
        "() => { const r = document.querySelector('[data-live-picture]').getBoundingClientRect();"
        " return r.top === 0 && r.left === 0 && Math.abs(r.width - window.innerWidth) <= 1"
        " && Math.abs(r.height - window.innerHeight) <= 1; }"
    )
    page.wait_for_function(READABLE_JS)
    assert page.evaluate("document.fullscreenElement") is None
    page.keyboard.press("Escape")
    expect(host).not_to_have_class(re.compile(r"\bis-fullscreen\b"))
    expect(page.get_by_role("button", name="Full screen")).to_be_visible()


@pytest.mark.parametrize("device", DEVICES)
def test_the_hint_speaks_the_devices_words_and_the_readout_is_not_the_button(
    browser, live_server, app, owner, payments, device
):
    made = make_link(app, payments, owner)
    page = visitor(browser, device)
    page.goto(live_server.url + made.path)
    hint = page.locator(".viewer-hint")
    if device.get("has_touch"):
        expect(hint).to_contain_text("pinch", use_inner_text=True)
        expect(hint).to_contain_text("Tap a box", use_inner_text=True)
        expect(hint).not_to_contain_text("arrow keys", use_inner_text=True)
        expect(hint).not_to_contain_text("wheel", use_inner_text=True)
    else:
        expect(hint).to_contain_text("arrow keys", use_inner_text=True)
        expect(hint).to_contain_text("wheel", use_inner_text=True)
        expect(hint).not_to_contain_text("finger", use_inner_text=True)
    readout = page.locator("[data-zoom-level]")
    expect(readout).to_have_text(re.compile(r"^\d+ %$"))
    actual = page.locator("[data-zoom=actual]")
    actual.click()
    expect(readout).to_have_text("100 %")
    expect(actual).not_to_have_text(re.compile("100 %"))
    expect(actual).to_have_text("Actual size")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_focus_ring_after_a_mouse_drag(shots, browser, live_server, app, owner, payments, scheme):
    made = make_link(app, payments, owner)
    page = visitor(browser, DESKTOP, scheme)
    page.goto(live_server.url + made.path)
    box = page.locator("[data-panzoom]")
    expect(box).to_have_attribute("data-fitted", "1")
    for _ in range(3):
        page.get_by_role("button", name="Zoom in").click()
    rect = box.bounding_box()
    drag(page, DESKTOP, (rect["x"] + 400, rect["y"] + 120), (rect["x"] + 150, rect["y"] + 200))
    page.mouse.move(5, 5)
    # The press focused the box (so keys pan), never the picture itself, and shows no ring.
    page.wait_for_function("() => document.activeElement === document.querySelector('[data-panzoom]')")
    ring = "getComputedStyle(document.querySelector('[data-panzoom] svg')).outlineStyle"
    assert page.evaluate(ring) == "none"
    assert page.evaluate("getComputedStyle(document.querySelector('[data-panzoom]')).outlineStyle") == "none"
    # A key afterwards pans; the ring that may then appear is the box's (keyboard focus), not a bar
    # drawn inside the picture.
    stage = page.locator(".panzoom-stage")
    before = stage.get_attribute("style")
    page.keyboard.press("ArrowLeft")
    expect(stage).not_to_have_attribute("style", before)
    assert page.evaluate(ring) == "none"
    shot(shots, page, f"after-drag-1280-{scheme}", full_page=False)


@pytest.mark.parametrize("device", DEVICES)
def test_a_redraw_keeps_the_visitors_zoom_and_position(browser, live_server, app, owner, payments, device):
    made = make_link(app, payments, owner)
    page = visitor(browser, device)
    page.goto(live_server.url + made.path)
    box = page.locator("[data-panzoom]")
    expect(box).to_have_attribute("data-fitted", "1")
    for _ in range(2):
        page.get_by_role("button", name="Zoom in").click()
    rect = box.bounding_box()
    drag(
        page,
        device,
        (rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2),
        (rect["x"] + rect["width"] / 2 - 60, rect["y"] + rect["height"] / 2 - 30),
    )
    expect(box).to_have_attribute("data-fitted", "0")
    scale = box.get_attribute("data-scale")
    transform = page.locator(".panzoom-stage").get_attribute("style")
    page.evaluate(REDRAW_JS)
    swapped = page.locator("[data-panzoom][data-swapped]")
    expect(swapped).to_have_attribute("data-scale", scale)
    expect(swapped).to_have_attribute("data-fitted", "0")
    expect(swapped.locator(".panzoom-stage")).to_have_attribute("style", transform)
    # A fitted picture stays fitted across a redraw.
    page.locator("[data-zoom=fit]").click()
    expect(swapped).to_have_attribute("data-fitted", "1")
    page.evaluate(REDRAW_JS.replace("'data-swapped', '1'", "'data-swapped', '2'"))
    expect(page.locator("[data-panzoom][data-swapped='2']")).to_have_attribute("data-fitted", "1")

    # In full screen too: a redraw leaves the visitor in full screen, where they were.
    page.get_by_role("button", name="Full screen").click()
    page.wait_for_function(READABLE_JS)
    scale = page.locator("[data-panzoom]").get_attribute("data-scale")
    page.evaluate(REDRAW_JS.replace("'data-swapped', '1'", "'data-swapped', '3'"))
    third = page.locator("[data-panzoom][data-swapped='3']")
    expect(third).to_have_attribute("data-scale", scale)
    expect(page.locator("[data-live-picture]")).to_have_class(re.compile(r"\bis-fullscreen\b"))
    expect(page.get_by_role("button", name="Exit full screen")).to_be_visible()


BACKGROUND_JS = """() => getComputedStyle(document.querySelector('[data-panzoom] svg > rect.background')).fill"""
WHITE = "rgb(255, 255, 255)"


@pytest.mark.parametrize("device", DEVICES)
def test_the_picture_follows_the_dark_theme_and_the_files_stay_light(
    browser, live_server, app, owner, payments, device
):
    made = make_link(app, payments, owner)
    dark = visitor(browser, device, "dark")
    dark.goto(live_server.url + made.path)
    expect(dark.locator("[data-panzoom]")).to_have_attribute("data-fitted", "1")
    assert dark.evaluate(BACKGROUND_JS) != WHITE
    assert dark.evaluate("getComputedStyle(document.querySelector('[data-panzoom]')).backgroundColor") != WHITE
    edge = dark.evaluate("getComputedStyle(document.querySelector('[data-panzoom] g.edge:not(.back) path')).stroke")
    assert edge != "rgb(75, 85, 99)"  # the worker's dark grey lines would vanish on a dark canvas
    light = visitor(browser, device, "light")
    light.goto(live_server.url + made.path)
    expect(light.locator("[data-panzoom]")).to_have_attribute("data-fitted", "1")
    assert light.evaluate(BACKGROUND_JS) == WHITE
    # The downloads and the image link are files drawn on the server: light, whatever the page's theme.
    svg_file = dark.context.request.get(
        live_server.url + dark.get_by_role("link", name="Download SVG").get_attribute("href")
    )
    assert 'class="background" width="100%" height="100%" fill="#ffffff"' in svg_file.text()


def test_the_link_page_offers_the_image_link_with_copy_markdown_and_html(
    shots, browser, live_server, app, owner, payments
):
    made = make_link(app, payments, owner)
    for width, scheme in ((1280, "light"), (1280, "dark"), (390, "light"), (390, "dark")):
        device = DESKTOP if width == 1280 else {"viewport": {"width": 390, "height": 844}}  # full-page shots
        context = browser.new_context(color_scheme=scheme, **device)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        page = context.new_page()
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/graphs/{payments.public_id}/shares/{made.id}")
        section = page.locator("section.image-link")
        expect(section.get_by_role("heading", name="Image link")).to_be_visible()
        image = section.get_by_label("Image link")
        expect(image).to_have_value(re.compile(r"/graphs/public/.+\?token=.+&ext=png$"))
        markdown = page.locator("#image-markdown")
        html = page.locator("#image-html")
        url = image.input_value()
        expect(markdown).to_have_value(
            re.compile(r"^\[!\[Dependency diagram: Payments platform\]\(" + re.escape(url) + r"\)\]\(.+/s/.+\)$")
        )
        expect(html).to_have_value(
            re.compile(
                r'^<a href="[^"]+/s/[^"]+"><img src="'
                + re.escape(url.replace("&", "&amp;"))
                + r'" alt="Dependency diagram: Payments platform"></a>$'
            )
        )
        # No sideways scroll on a phone.
        assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        shot(shots, page, f"link-page-{width}-{scheme}")
        if width == 1280 and scheme == "light":
            for button, field in (("Copy image link", image), ("Copy Markdown", markdown), ("Copy HTML", html)):
                section.get_by_role("button", name=button).click()
                page.wait_for_function(
                    "(expected) => navigator.clipboard.readText().then(t => t === expected)", arg=field.input_value()
                )
            # The image link answers a PNG (the app's URL stands in for the configured one).
            path = url[url.index("/graphs/public/") :]
            png = page.context.request.get(f"{live_server.url}/analytics{path}")
            assert png.status == 200 and png.headers["content-type"] == "image/png"
        context.close()


class HostSite:
    """Another site on a loopback port (the one the link allows to embed it), serving one page."""

    def __init__(self) -> None:
        self.body = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(site.body)))
                self.end_headers()
                self.wfile.write(site.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_site():
    site = HostSite()
    yield site
    site.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_embed_snippet_is_responsive_and_themed(
    shots, browser, live_server, app, owner, payments, scheme, host_site
):
    made = make_link(app, payments, owner, embeddable=True, origins=(host_site.origin,))
    owner_page = browser.new_context(**DESKTOP).new_page()
    log_in(owner_page, live_server.url)
    owner_page.goto(f"{live_server.url}/graphs/{payments.public_id}/shares/{made.id}")
    snippet = owner_page.locator("#iframe-snippet")
    expect(snippet).to_have_value(re.compile(r"&amp;theme=auto\""))
    other = "light" if scheme == "dark" else "dark"  # the theme the snippet forces against the visitor's setting
    owner_page.get_by_label("Dark" if other == "dark" else "Light", exact=True).check()
    expect(snippet).to_have_value(re.compile(f'&amp;theme={other}"'))
    shot(shots, owner_page, f"link-page-embeddable-1280-{other}-snippet")
    html = snippet.input_value().replace(app.config["MAESTRO_ANALYTICS_URL"], f"{live_server.url}/analytics")
    assert "max-width:800px" in html and "padding-top:max(" in html

    for device in (DESKTOP, PHONE):
        context = browser.new_context(color_scheme=scheme, **device)
        host_site.body = (
            f"<!doctype html><meta name=viewport content='width=device-width'><body style='margin:8px'>"
            f"<h1>Our wiki</h1>{html}<p>After the frame.</p></body>"
        ).encode()
        page = context.new_page()
        page.goto(f"{host_site.origin}/wiki")
        frame_element = page.locator("iframe")
        expect(frame_element).to_be_visible()
        frame = page.frame_locator("iframe")
        expect(frame.locator("[data-panzoom]")).to_have_attribute("data-fitted", "1")
        expect(frame.locator("html")).to_have_attribute("data-theme", other)
        background = frame.locator("[data-panzoom] svg > rect.background").evaluate("e => getComputedStyle(e).fill")
        assert (background == WHITE) == (other == "light")
        # Never wider than the phone's page; the frame's shape is the picture's plus its title and toolbar.
        width = device["viewport"]["width"]
        assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        rect = frame_element.bounding_box()
        assert rect["width"] <= min(800, width - 16) + 1
        assert rect["height"] < rect["width"]  # this picture is wide: so is its frame
        # The picture's box is inside the frame (the title and toolbar leave it room).
        inside = frame_element.element_handle().content_frame()
        inside.wait_for_function(
            f"() => {{ const b = document.querySelector('[data-panzoom]').getBoundingClientRect();"
            f" return b.bottom <= window.innerHeight && b.height >= {rect['width'] * 0.3}; }}"
        )
        expect(frame.get_by_role("button", name="Full screen")).to_be_visible()
        shot(shots, page, f"embed-{width}-{scheme}-theme-{other}")
        context.close()

    # The theme rides after the token: the route still reads the token; an unknown theme is the default.
    plain = app.test_client().get(made.path.replace("?token=", "/embed?token=") + "&theme=dark")
    assert plain.status_code == 200 and 'data-theme="dark"' in plain.get_data(as_text=True)
    odd = app.test_client().get(made.path.replace("?token=", "/embed?token=") + "&theme=%3Cb%3E")
    assert odd.status_code == 200 and "data-theme" not in odd.get_data(as_text=True)
    page_not_embed = app.test_client().get(made.path + "&theme=dark")
    assert page_not_embed.status_code == 200 and "data-theme" not in page_not_embed.get_data(as_text=True)
