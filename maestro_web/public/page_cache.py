"""Rendered public pages, kept per process (docs/scale.md "The public view").

A public page is a pure function of its page object (page.PublicPage: what the counting statement
returned, the link's expiry, the address the visitor opened, an embed's theme) and of the time
(relative times, "expires in 23 hours"). Rendering it is most of a view's Python work once the count
is cheap, so the page is cached under that object, the time rounded to 30 s: the key is derived,
never listed by hand, so an input the page gains cannot be left out of it. The visitor's own live
ticket goes in after the cache (routes.public_page).

Never cached: a page rendered while the visitor's session holds flashed messages (they are that
visitor's, and rendering consumes them), and a page over MAX_PAGE_BYTES. The cache only ever
answers a view that was just counted: every rule was checked by the statement first, so a paused
or revoked link never reaches it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Response, current_app, session

EXTENSION = "maestro_public_pages"
MAX_PAGES = 128
MAX_PAGE_BYTES = 512 * 1024
TIME_STEP = 30  # seconds: relative times on a cached page are at most this old


class PageCache:
    def __init__(self, size: int = MAX_PAGES) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, page: bytes) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


def _cache() -> PageCache:
    cache: PageCache | None = current_app.extensions.get(EXTENSION)
    if cache is None:
        cache = current_app.extensions[EXTENSION] = PageCache()
    return cache


def rendered(page: Hashable, render: Callable[[], str]) -> Response:
    """The page for `page` (its frozen page object) as an HTML response, rendered by `render()` the
    first time in each TIME_STEP (or every time while this visitor has flashed messages waiting). The
    cache keeps the page encoded, so a cached view encodes nothing."""
    if session.get("_flashes"):
        return _html(render().encode())
    cache = _cache()
    key = (int(time.time() // TIME_STEP), page)
    page = cache.get(key)
    if page is None:
        page = render().encode()
        if len(page) <= MAX_PAGE_BYTES:
            cache.put(key, page)
    return _html(page)


def _html(page: bytes) -> Response:
    return Response(page, mimetype="text/html")
