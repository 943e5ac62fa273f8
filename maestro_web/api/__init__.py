"""JSON API. `api_auth` issues and revokes tokens (public, rate-limited); `api` needs a token."""
from flask import Blueprint

from maestro_web.guards import require_api_user

api_auth_bp = Blueprint("api_auth", __name__)

api_bp = Blueprint("api", __name__, url_prefix="/api")
api_bp.before_request(require_api_user)

from maestro_web.api import auth_routes, graph_routes, live_routes, openapi, routes, share_list_routes, share_routes  # noqa: E402,F401
