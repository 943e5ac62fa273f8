"""A login session's device in plain words ("Chrome on Linux") from its User-Agent header.

A few ordered patterns rather than a User-Agent database: the page needs the browser family and
the system a person would recognise, not versions. Order matters because browsers borrow each
other's tokens (every Chromium browser says "Safari", Edge and Opera say "Chrome").
"""

from __future__ import annotations

import re

_BROWSERS: tuple[tuple[str, str], ...] = (
    (r"\bEdgA?/|\bEdg/|\bEdge/", "Edge"),
    (r"\bOPR/|\bOpera\b", "Opera"),
    (r"\bSamsungBrowser/", "Samsung Internet"),
    (r"\bVivaldi/", "Vivaldi"),
    (r"\bFirefox/|\bFxiOS/", "Firefox"),
    (r"\bChromium/", "Chromium"),
    (r"\bChrome/|\bCriOS/|\bHeadlessChrome/", "Chrome"),
    (r"\bVersion/[\d.]+.*\bSafari/", "Safari"),
    (r"^curl/", "curl"),
    (r"^python-requests/|^python-httpx/|^Python-urllib/|^aiohttp/", "Python"),
    (r"^Wget/", "Wget"),
    (r"^node-fetch|^axios/|^undici", "Node.js"),
    (r"^Go-http-client/", "Go"),
    (r"^PostmanRuntime/", "Postman"),
    (r"^Werkzeug/", "Werkzeug test client"),
)
_SYSTEMS: tuple[tuple[str, str], ...] = (
    (r"\biPhone\b", "iPhone"),
    (r"\biPad\b", "iPad"),
    (r"\bAndroid\b", "Android"),
    (r"\bCrOS\b", "ChromeOS"),
    (r"\bWindows\b", "Windows"),
    (r"\bMac OS X\b|\bMacintosh\b", "macOS"),
    (r"\bLinux\b|\bX11\b", "Linux"),
)


def _first(patterns: tuple[tuple[str, str], ...], text: str) -> str | None:
    for pattern, words in patterns:
        if re.search(pattern, text):
            return words
    return None


def device_words(user_agent: str, api: bool = False) -> str:
    """ "Chrome on Linux", "Safari on iPhone", "curl (API)"; "Unknown browser" when nothing is recognised."""
    browser = _first(_BROWSERS, user_agent or "")
    system = _first(_SYSTEMS, user_agent or "")
    if browser and system:
        words = f"{browser} on {system}"
    elif browser or system:
        words = browser or f"A browser on {system}"
    else:
        words = "An API client" if api else "Unknown browser"
    return f"{words} (API)" if api and words != "An API client" else words
