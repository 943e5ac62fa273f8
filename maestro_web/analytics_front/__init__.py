"""The analytics front (SPEC §5), mounted at /analytics. One blueprint per kind of caller, each
with exactly one guard:

- analytics_private   logged-in users with Read on the graph (session cookie): require_user
- analytics_worker    the analytics worker (worker token in Authorization):    require_worker
- analytics_public    anyone with a share link (token in the query string):   require_share
"""
from flask import Blueprint

from maestro_web.guards import require_share, require_user, require_worker

analytics_private_bp = Blueprint("analytics_private", __name__, url_prefix="/analytics")
analytics_private_bp.before_request(require_user)

analytics_worker_bp = Blueprint("analytics_worker", __name__, url_prefix="/analytics")
analytics_worker_bp.before_request(require_worker)

analytics_public_bp = Blueprint("analytics_public", __name__, url_prefix="/analytics")
analytics_public_bp.before_request(require_share)

from maestro_web.analytics_front import download_routes, live_routes, private_routes, public_routes, worker_routes  # noqa: E402,F401
from maestro_web.analytics_front import preview_routes  # noqa: E402,F401  (issue 14: the owner's preview)
