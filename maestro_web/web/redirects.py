"""Where a redirect may send a browser: only back onto this site."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_safe_next(target: str | None) -> bool:
    """Only a relative path on this site: never another host, scheme, or `//host`."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False  # browsers read `/\evil.example` as `//evil.example`
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
