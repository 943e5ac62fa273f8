"""Graph pages: list, create, detail, edit, access (roles), delete, re-run."""
from flask import Blueprint

from maestro_web.guards import require_user

graphs_bp = Blueprint("graphs", __name__, url_prefix="/graphs")
graphs_bp.before_request(require_user)

from maestro_web.graphs import routes  # noqa: E402,F401
