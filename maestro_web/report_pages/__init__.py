"""The Reports page of a graph (SPEC §12), for people with a session; the workflow it shares with the
API is maestro_web/domain/reports.py."""
from flask import Blueprint

from maestro_web.guards import require_user

reports_bp = Blueprint("reports", __name__, url_prefix="/graphs")
reports_bp.before_request(require_user)

from maestro_web.report_pages import routes  # noqa: E402,F401
