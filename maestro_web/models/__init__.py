"""One module per aggregate; import them all here so Alembic sees every table."""
from maestro_web.models.graph import Graph, GraphResult, GraphRole, GraphRun, Role
from maestro_web.models.outbox import ControlOutbox
from maestro_web.models.share import ShareLink
from maestro_web.models.user import RevokedToken, User

__all__ = ["ControlOutbox", "Graph", "GraphResult", "GraphRole", "GraphRun", "RevokedToken", "Role", "ShareLink", "User"]
