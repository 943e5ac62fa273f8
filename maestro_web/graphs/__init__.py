"""Graph pages: list, create, detail, edit, access (roles), delete, re-run (routes.py, under /graphs),
and the owner's analytics pages of a graph: its picture, raw SVG and downloads (analytics_routes.py,
under /analytics/graphs). One guard for all of them: a signed-in user (`require_user`)."""

from flask import Blueprint

from maestro_web.web.guards import require_user

graphs_bp = Blueprint("graphs", __name__)
graphs_bp.before_request(require_user)

from maestro_web.graphs import analytics_routes, routes  # noqa: E402,F401
