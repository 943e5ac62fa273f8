"""The limits that pages, the JSON API, its OpenAPI document and the templates share: each written once.

A leaf (it imports nothing), so every layer may read it; templates read it as `limits` (web/words.py's
context processor), so a form's `maxlength` is the number the server checks.
"""

from __future__ import annotations

# Lists (the graphs, a user's share links; pages and API alike). A page number past MAX_PAGE is refused:
# a 30-digit one would overflow the database's OFFSET.
MAX_PAGE = 1_000_000
MAX_PER_PAGE = 100
# A search of a list: longer is refused by the API and by My shared links (400), and cut to this length by
# the graphs page. 200 was the API's and My shared links' (tests/test_my_links.py holds it); the graphs
# page alone cut at 120, which no test or SPEC line asked for.
MAX_SEARCH_LENGTH = 200

# A share link's passcode (SPEC §10) and an account's password.
PASSCODE_MIN_LENGTH, PASSCODE_MAX_LENGTH = 8, 128
PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH = 8, 128
