"""JSON API. `api_auth` issues and revokes tokens (public, rate-limited); `api` needs a token."""

from flask import Blueprint

from maestro_web.web.guards import require_api_user, require_discovery_command

api_auth_bp = Blueprint("api_auth", __name__)

api_bp = Blueprint("api", __name__, url_prefix="/api")
api_bp.before_request(require_api_user)

# The discovery service's two endpoints of a crawl: only a discovery command token, never a session's.
discovery_command_bp = Blueprint("discovery_command", __name__, url_prefix="/api")
discovery_command_bp.before_request(require_discovery_command)

from maestro_web.api import (  # noqa: E402,F401
    auth_routes,
    discovery_routes,
    graph_routes,
    live_routes,
    openapi,
    report_routes,
    routes,
    share_list_routes,
    share_routes,
    source_routes,
    token_routes,
)
