"""Workflows that span several rows: creating, changing, sharing access to and deleting graphs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphRole, Role, User


class RoleChangeRefused(Exception):
    """A role change that would break a rule; `status` is the HTTP answer it deserves."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status  # 422 unknown user, 409 last Admin, 404 no such grant


@dataclass
class GraphChanges:
    name: str
    type: str
    description: str
    spec: str


def create_graph(owner: User, changes: GraphChanges) -> Graph:
    """A new graph owned by `owner` (its first Admin), queued for the worker."""
    graph = Graph(owner=owner, name=changes.name.strip(), type=changes.type,
                  description=changes.description or "", spec=changes.spec or "", info={})
    graph.roles.append(GraphRole(user=owner, role=Role.ADMIN))
    db.session.add(graph)
    db.session.flush()
    graph.queue_run()
    return graph


def update_graph(graph: Graph, changes: GraphChanges) -> bool:
    """Apply the changes; a changed spec queues a new run. True when a run was queued."""
    spec_changed = (changes.spec or "") != (graph.spec or "")
    graph.name = changes.name.strip()
    graph.type = changes.type
    graph.description = changes.description or ""
    graph.spec = changes.spec or ""
    if spec_changed:
        graph.queue_run()
    return spec_changed


def grant_role(graph: Graph, email: str, role: Role) -> GraphRole:
    """Give (or change) the role of the registered user with this e-mail."""
    user = User.get_by_email(email)
    if user is None:
        raise RoleChangeRefused("There is no registered user with this e-mail address.", 422)
    existing = db.session.scalar(select(GraphRole).where(GraphRole.graph_id == graph.id, GraphRole.user_id == user.id))
    if existing is None:
        existing = GraphRole(graph=graph, user=user, role=int(role))
        db.session.add(existing)
        return existing
    if existing.role == Role.ADMIN and role != Role.ADMIN and graph.admin_count() <= 1:
        raise RoleChangeRefused("The last Admin of a graph cannot be downgraded; make someone else Admin first.", 409)
    existing.role = int(role)
    return existing


def remove_role(graph: Graph, user_public_id: str) -> None:
    grant = db.session.scalar(
        select(GraphRole).join(User).where(GraphRole.graph_id == graph.id, User.public_id == user_public_id)
    )
    if grant is None:
        raise RoleChangeRefused("This user has no role on this graph.", 404)
    if grant.role == Role.ADMIN and graph.admin_count() <= 1:
        raise RoleChangeRefused("The last Admin of a graph cannot be removed; make someone else Admin first.", 409)
    db.session.delete(grant)


def graphs_visible_to(user: User, search: str = "", status: str = "") -> Select[Any]:
    """Graphs the user holds any role on, newest first, optionally filtered."""
    query = (
        select(Graph)
        .join(GraphRole, GraphRole.graph_id == Graph.id)
        .where(GraphRole.user_id == user.id, Graph.deleted_at.is_(None))
        .order_by(Graph.created_at.desc(), Graph.id.desc())
    )
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Graph.name.ilike(f"%{escaped}%", escape="\\"))
    if status:
        query = query.where(Graph.status == status)
    return query


def paginate(query: Select[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return items, total


def roles_of(graph: Graph) -> list[GraphRole]:
    return list(
        db.session.scalars(
            select(GraphRole).join(User).where(GraphRole.graph_id == graph.id).order_by(GraphRole.role.desc(), User.email)
        )
    )

