"""Managing share links: a graph's Shares page, one link's page, and "My shared links"."""

from flask import Blueprint

from maestro_web.web.guards import require_user

shares_bp = Blueprint("shares", __name__)
shares_bp.before_request(require_user)

from maestro_web.shares import bulk_routes, preview_routes, routes  # noqa: E402,F401
