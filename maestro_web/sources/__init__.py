"""A graph's discovery sources (SPEC §11) and its history (§13): the workflows the API and the pages
share, and the pages (Sources, Changes) for people with a session."""
from flask import Blueprint

from maestro_web.guards import require_user

sources_bp = Blueprint("sources", __name__, url_prefix="/graphs")
sources_bp.before_request(require_user)

from maestro_web.sources import routes  # noqa: E402,F401
