"""Home page and health check."""

from flask import Blueprint

from maestro_web.web.guards import optional_user

main_bp = Blueprint("main", __name__)
main_bp.before_request(optional_user)

from maestro_web.main import routes  # noqa: E402,F401  (routes attach themselves to main_bp)
