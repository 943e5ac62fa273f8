"""The public view (SPEC §5, §10), mounted at /analytics: what an anonymous visitor holding a share
link reaches, and nothing else. One blueprint, one guard: `require_share` (the share token in
`?token=` for the graph in the URL, or the short link's code).

routes.py         the page (long link, short link, embed), the image link (`&ext=png`), the passcode post,
                  the public headers, the refusal pages; downloads.py: the SVG/PNG files
live_routes.py    what an open page asks to keep up with its link: live, ticket, state
passcode_gate.py  a link's passcode at the door; page_cache.py: rendered pages kept per process
presenters.py     what a graph page shows, field by field (the visitor's allow-list)

The owner's pages of a graph are in graphs/ (same /analytics prefix, `require_user`), the worker's
endpoints in ingest/ (`require_worker`).
"""

from flask import Blueprint

from maestro_web.web.guards import require_share

public_bp = Blueprint("public", __name__, url_prefix="/analytics")
public_bp.before_request(require_share)

from maestro_web.public import live_routes, routes  # noqa: E402,F401  (their routes register on public_bp)
