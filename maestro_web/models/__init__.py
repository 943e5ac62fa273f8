"""One module per aggregate; import them all here so Alembic sees every table."""

from maestro_web.models.discovery import DiscoveredEdge, DiscoveredNode, DiscoveryCrawl, DiscoverySource, GraphVersion
from maestro_web.models.graph import Graph, GraphResult, GraphRole, GraphRun, Role
from maestro_web.models.invitation import Invitation
from maestro_web.models.outbox import ControlOutbox
from maestro_web.models.receipt import RequestReceipt
from maestro_web.models.report import Report, ReportSubscription
from maestro_web.models.share import ShareLink
from maestro_web.models.user import EmailChange, LoginSession, PersonalToken, RevokedToken, User

__all__ = [
    "ControlOutbox",
    "DiscoveredEdge",
    "DiscoveredNode",
    "DiscoveryCrawl",
    "DiscoverySource",
    "EmailChange",
    "Graph",
    "GraphResult",
    "GraphRole",
    "GraphRun",
    "GraphVersion",
    "Invitation",
    "LoginSession",
    "PersonalToken",
    "Report",
    "ReportSubscription",
    "RequestReceipt",
    "RevokedToken",
    "Role",
    "ShareLink",
    "User",
]
