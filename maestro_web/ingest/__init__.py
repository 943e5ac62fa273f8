"""The analytics worker's endpoints (SPEC §5), mounted at /analytics: claim a job, post a result.
One blueprint, one guard: `require_worker` (a worker token in `Authorization`, never a cookie).

routes.py   the two endpoints; jobs.py: claiming runs and storing results, independent of HTTP
svg.py      the sanitizer every worker picture passes before it is stored
schemas.py  the declared request models of a posted result (JSON and Maestro's form)
"""

from flask import Blueprint

from maestro_web.web.guards import require_worker

ingest_bp = Blueprint("ingest", __name__, url_prefix="/analytics")
ingest_bp.before_request(require_worker)

from maestro_web.ingest import routes  # noqa: E402,F401  (its routes register on ingest_bp)
