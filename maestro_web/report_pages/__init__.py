"""The Reports page of a graph (SPEC §12), for people with a session; the workflow it shares with the
API is maestro_web/domain/reports.py. `report_mail_bp`: the weekly mail's one-click unsubscribe link,
for whoever holds it (its random code is the only authority, RFC 8058: no session, no CSRF form)."""

from flask import Blueprint

from maestro_web.web.guards import optional_user, require_user

reports_bp = Blueprint("reports", __name__, url_prefix="/graphs")
reports_bp.before_request(require_user)

report_mail_bp = Blueprint("report_mail", __name__, url_prefix="/reports")
report_mail_bp.before_request(optional_user)

from maestro_web.report_pages import routes  # noqa: E402,F401
