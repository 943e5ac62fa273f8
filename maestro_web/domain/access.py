"""The one place that decides whether a user may see or change a graph (SPEC §4 roles)."""
from __future__ import annotations

from flask import abort

from maestro_web.models import Graph, Role, User


def authorize_graph(public_id: str, user: User | None, minimum: Role = Role.READ) -> tuple[Graph, Role]:
    """The graph and the user's role on it; 404 without any role (existence is not revealed),
    403 when the role is below `minimum`."""
    graph = Graph.get_by_public_id(public_id)
    role = graph.role_of(user) if graph is not None else None
    if graph is None or role is None:
        abort(404, "There is no such graph, or you have no access to it.")
    if role < minimum:
        abort(403, f"This needs the {minimum.label} role on this graph; you have {role.label}.")
    return graph, role
