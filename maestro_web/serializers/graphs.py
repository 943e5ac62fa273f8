"""A graph as JSON, with its roles and invitations (SPEC §4): the API's answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from maestro_web.models import Graph, GraphRole, Invitation, Role
from maestro_web.serializers.users import UserOut, person_json, user_json


class OwnerOut(BaseModel):
    id: str
    name: str


class RunOut(BaseModel):
    id: str
    state: str
    queued_at: str


class GraphOut(BaseModel):
    id: str
    name: str
    type: str
    description: str
    show_description: bool
    spec: str
    status: Literal["process", "finished", "warning", "error"]
    message: str
    info: dict[str, Any]
    owner: OwnerOut
    role: Literal["read", "write", "admin"] | None
    created_at: str
    updated_at: str
    run: RunOut | None


class GraphList(BaseModel):
    items: list[GraphOut]
    page: int | None = Field(description="The page number; null on the last page of a list too long to count.")
    per_page: int
    total: int = Field(description="Exact when total_exact, else a lower bound (lists never count past 100).")
    total_exact: bool
    next: str | None = Field(description="Cursor of the next (older) page, for ?cursor=.")
    prev: str | None = Field(description="Cursor of the previous (newer) page.")
    last: str | None = Field(description="Cursor of the last (oldest) page.")


class RoleOut(BaseModel):
    user: UserOut
    role: Literal["read", "write", "admin"]
    level: Literal[1, 3, 7]


class RoleList(BaseModel):
    items: list[RoleOut]


class InvitationOut(BaseModel):
    id: str
    email: str
    role: Literal["read", "write", "admin"]
    level: Literal[1, 3, 7]
    state: Literal["pending", "accepted", "withdrawn", "expired"]
    created_at: str
    expires_at: str = Field(description="The link works until then (7 days), once.")
    invited_by: OwnerOut | None


class InvitationCreated(BaseModel):
    invited: Literal[True]
    invitation: InvitationOut


class InvitationList(BaseModel):
    items: list[InvitationOut]


_NO_RUN: Any = object()


def graph_json(graph: Graph, role: Role | None = None, run: Any = _NO_RUN) -> dict[str, Any]:
    """The graph as JSON; a list passes each graph's newest `run` (loaded for the whole page at once)."""
    if run is _NO_RUN:
        run = graph.current_run()
    return {
        "id": graph.public_id,
        "name": graph.name,
        "type": graph.type,
        "description": graph.description,
        "show_description": graph.show_description,
        "spec": graph.spec,
        "status": graph.status,
        "message": graph.message,
        "info": graph.info or {},
        "owner": person_json(graph.owner),
        "role": role.label.lower() if role else None,
        "created_at": graph.created_at.isoformat(),
        "updated_at": graph.updated_at.isoformat(),
        "run": {"id": run.public_id, "state": run.state, "queued_at": run.queued_at.isoformat()} if run else None,
    }


def role_json(grant: GraphRole) -> dict[str, Any]:
    return {"user": user_json(grant.user), "role": grant.role_enum.label.lower(), "level": grant.role}


def invitation_json(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.public_id,
        "email": invitation.email,
        "role": invitation.role_enum.label.lower(),
        "level": invitation.role,
        "state": invitation.state(),
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
        "invited_by": person_json(invitation.invited_by) if invitation.invited_by else None,
    }
