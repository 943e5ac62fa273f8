"""GET /metrics: the app's Prometheus metrics, for the scraper only (docs/operations.md, "Metrics").

The blueprint also times every request of the app (`before_app_request` / `after_app_request`), by
route template and status.
"""

from flask import Blueprint

from maestro_web.web.guards import require_metrics_access

monitoring_bp = Blueprint("monitoring", __name__)
monitoring_bp.before_request(require_metrics_access)

from maestro_web.monitoring import routes  # noqa: E402,F401  (routes attach themselves to monitoring_bp)
