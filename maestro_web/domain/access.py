"""The one place that decides whether a user may see or change a graph (SPEC §4 roles)."""

from __future__ import annotations

from maestro_web.models import Graph, Role, User
from maestro_web.refusals import NoSuch, NotAllowed


def authorize_graph(public_id: str, user: User | None, minimum: Role = Role.READ) -> tuple[Graph, Role]:
    """The graph and the user's role on it; NoSuch without any role (existence is not revealed),
    NotAllowed when the role is below `minimum`."""
    graph = Graph.get_by_public_id(public_id)
    role = graph.role_of(user) if graph is not None else None
    if graph is None or role is None:
        raise NoSuch("There is no such graph, or you have no access to it.")
    if role < minimum:
        raise NotAllowed(f"This needs the {minimum.label} role on this graph; you have {role.label}.")
    return graph, role
