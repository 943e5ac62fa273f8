"""axe-core in the real Chromium on every page a user, a visitor and an owner reach, light and dark:
no violation of impact "serious" or "critical".

axe-core is Deque's rule engine (npm, pinned), installed by npm into .cache/ on first use as
tests/test_foreign_signers.py does for jsonwebtoken. It reaches the page as a same-origin script
served by Playwright's router, so the app's strict CSP (script-src 'self') stays on while it runs.
"""

from __future__ import annotations

import pytest
from axe_support import AXE_PATH, RUN_AXE
from conftest import log_in
from look_support import build_site
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def check(page, base: str, path: str, axe_source: str) -> list[dict]:
    page.goto(base + path)
    expect(page.locator("main")).to_be_visible()
    page.add_script_tag(url=base + AXE_PATH)
    return page.evaluate(RUN_AXE)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_or_critical_violation_on_any_page(
    scheme, browser, live_server, app, make_user, make_graph, axe_source
):
    site = build_site(app, live_server.url, make_user, make_graph)
    found: dict[str, list[dict]] = {}
    for logged_in in (False, True):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
        context.route("**" + AXE_PATH, lambda route: route.fulfill(body=axe_source, content_type="text/javascript"))
        page = context.new_page()
        if logged_in:
            log_in(page, site.base)
        for name, path, owner in site.all():
            if owner != logged_in:
                continue
            violations = check(page, site.base, path, axe_source)
            bad = [v for v in violations if v["impact"] in ("serious", "critical")]
            if bad:
                found[name] = bad
        context.close()
    checked = len(site.all())
    assert checked == 20
    assert not found, "\n".join(
        f"{name}: {v['id']} ({v['impact']}) {v['help']}: {v['nodes']}" for name, vs in found.items() for v in vs
    )


def test_the_check_sees_a_serious_violation(browser, live_server, axe_source):
    """The harness itself: a page with grey-on-white text and an unlabelled input is caught."""
    context = browser.new_context()
    context.route("**" + AXE_PATH, lambda route: route.fulfill(body=axe_source, content_type="text/javascript"))
    context.route(
        "**/__bad-page",
        lambda route: route.fulfill(
            body='<!doctype html><html lang="en"><title>x</title><main><p style="color:#bbb;background:#fff">faint</p>'
            '<input type="text"></main></html>',
            content_type="text/html",
        ),
    )
    page = context.new_page()
    violations = check(page, live_server.url, "/__bad-page", axe_source)
    ids = {v["id"] for v in violations if v["impact"] in ("serious", "critical")}
    assert {"color-contrast", "label"} <= ids
    context.close()
