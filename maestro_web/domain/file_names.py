"""What a downloaded file is called (a picture, a report): one rule for the visitor's downloads and the reports."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime


def file_name(graph_name: str, made_at: datetime | None, extension: str) -> str:
    """`web-shop-2026-11-30.svg`: a downloaded file named after the graph and the date it was drawn or
    made; ASCII only, so the Content-Disposition header needs no encoding."""
    ascii_name = unicodedata.normalize("NFKD", graph_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-") or "graph"
    date = made_at.strftime("%Y-%m-%d") if made_at is not None else "undated"
    return f"{slug}-{date}.{extension}"
