"""The Sources and Changes pages of a graph (SPEC §11, §13), for people with a session; the workflows
they share with the API are in maestro_web/sources/."""

from flask import Blueprint

from maestro_web.web.guards import require_user

sources_bp = Blueprint("sources", __name__, url_prefix="/graphs")
sources_bp.before_request(require_user)

from maestro_web.source_pages import routes  # noqa: E402,F401
