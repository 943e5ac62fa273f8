"""Accounts: `auth` holds the public pages (register, log in), `account` the logged-in ones."""

from flask import Blueprint

from maestro_web.web.guards import optional_user, require_user

auth_bp = Blueprint("auth", __name__, url_prefix="/auth")
auth_bp.before_request(optional_user)

account_bp = Blueprint("account", __name__)
account_bp.before_request(require_user)

from maestro_web.auth import account_routes, email_change, invitation, register, reset, routes  # noqa: E402,F401
