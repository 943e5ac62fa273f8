"""/api/graphs: the graph pages as JSON, under the same rules (SPEC §4)."""

from __future__ import annotations

import re
from typing import Any

from flask import jsonify, request, url_for

from maestro_web.api import api_bp
from maestro_web.api.schemas import GraphCreate, GraphPatch, RoleGrant, parse_body
from maestro_web.domain.access import authorize_graph
from maestro_web.domain.invitations import pending_invitations, send_access_granted, send_invitation, withdraw
from maestro_web.extensions import db
from maestro_web.graphs import trash
from maestro_web.graphs.forms import GraphForm
from maestro_web.graphs.services import (
    Cursor,
    GraphChanges,
    create_graph,
    grant_or_invite,
    newest_runs,
    remove_role,
    roles_of,
    update_graph,
)
from maestro_web.graphs.services import (
    list_graphs as graphs_page,
)
from maestro_web.graphs.services import (
    rerun as rerun_graph,
)
from maestro_web.limits import MAX_PAGE, MAX_PER_PAGE, MAX_SEARCH_LENGTH
from maestro_web.models import Graph, Role
from maestro_web.models.graph import GRAPH_STATUSES
from maestro_web.refusals import Kind, ValidationFailed
from maestro_web.security.session_jwt import current_user, signed_in_user
from maestro_web.serializers.graphs import graph_json, invitation_json, role_json
from maestro_web.web.rate_limits import spend_role_grant

GRAPH_FIELDS = ("name", "type", "description", "spec", "show_description")


def _changes(body: GraphCreate | GraphPatch, current: Graph | None) -> GraphChanges:
    """The declared model checked types and limits; the page's form class checks the rest (the
    spec's lines, a blank name), so pages and API refuse the same input. Fields missing from a
    PATCH keep their values."""
    data: dict[str, Any] = {name: getattr(current, name) for name in GRAPH_FIELDS} if current else {"type": "infra"}
    data.update(body.model_dump(exclude_unset=True, exclude_none=True))
    form = GraphForm(formdata=None, data=data, meta={"csrf": False})
    if not form.validate():
        fields = {name: errors if name == "spec" else errors[0] for name, errors in form.errors.items()}
        raise ValidationFailed.for_fields(fields, extra={"spec_lines": form.spec_lines} if form.spec_lines else None)
    return GraphChanges(
        name=data["name"],
        type=data["type"],
        description=data.get("description") or "",
        spec=data.get("spec") or "",
        show_description=bool(data.get("show_description")),
    )


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":  # sent empty (as a form sends an empty field): not given
        return default
    # A bounded pattern first: int() of a 5,000-digit string is slow, and of a huge one an error.
    if not re.fullmatch(r"\s*[0-9]{1,9}\s*", raw):
        raise ValidationFailed(
            f"{name} must be a whole number from 1 to {maximum}.",
            {name: f"Must be a whole number from 1 to {maximum}."},
            kind=Kind.BAD_REQUEST,
        )
    value = int(raw)
    if not 1 <= value <= maximum:
        raise ValidationFailed(
            f"{name} must be between 1 and {maximum}.",
            {name: f"Must be a whole number from 1 to {maximum}."},
            kind=Kind.BAD_REQUEST,
        )
    return value


@api_bp.get("/graphs")
def list_graphs():
    status = request.args.get("status", "")
    if status and status not in GRAPH_STATUSES:
        raise ValidationFailed(
            "status must be one of: " + ", ".join(GRAPH_STATUSES) + ".",
            {"status": "Must be one of: " + ", ".join(GRAPH_STATUSES) + "."},
            kind=Kind.BAD_REQUEST,
        )
    page = _int_arg("page", 1, MAX_PAGE)
    per_page = _int_arg("per_page", 20, MAX_PER_PAGE)
    user = current_user()
    search = request.args.get("q", "").strip()
    if len(search) > MAX_SEARCH_LENGTH:
        raise ValidationFailed(
            f"q must be at most {MAX_SEARCH_LENGTH} characters.",
            {"q": f"At most {MAX_SEARCH_LENGTH} characters."},
            kind=Kind.BAD_REQUEST,
        )
    cursor = None
    raw_cursor = request.args.get("cursor")
    if raw_cursor is not None:
        if request.args.get("page"):  # an empty page is not given
            raise ValidationFailed(
                "Give either page or cursor, not both.",
                {"cursor": "Give either page or cursor, not both."},
                kind=Kind.BAD_REQUEST,
            )
        cursor = Cursor.decode(raw_cursor)  # BadCursor: 400 naming the cursor
    assert user is not None  # the blueprint's guard let only a valid token's user in
    found = graphs_page(user, search=search, status=status, per_page=per_page, page=page, cursor=cursor)
    runs = newest_runs(found.graphs)
    return jsonify(
        items=[graph_json(graph, role, runs.get(graph.id)) for graph, role in found.rows],
        page=found.page,
        per_page=per_page,
        total=found.total,
        total_exact=found.total_exact,
        next=found.next.encode() if found.next else None,
        prev=found.prev.encode() if found.prev else None,
        last=found.last.encode() if found.last else None,
    )


@api_bp.post("/graphs")
def create():
    changes = _changes(parse_body(GraphCreate), None)
    graph = create_graph(current_user(), changes)
    db.session.commit()
    response = jsonify(graph_json(graph, Role.ADMIN))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_graph", graph_id=graph.public_id)
    return response


@api_bp.get("/graphs/<graph_id>")
def get_graph(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user())
    return jsonify(graph_json(graph, role))


@api_bp.patch("/graphs/<graph_id>")
def patch_graph(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    update_graph(graph, _changes(parse_body(GraphPatch), graph), by=current_user())
    db.session.commit()
    return jsonify(graph_json(graph, role))


@api_bp.delete("/graphs/<graph_id>")
def delete_graph(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.ADMIN)
    graph.soft_delete()
    db.session.commit()
    return "", 204


@api_bp.post("/graphs/<graph_id>/restore")
def restore_graph(graph_id: str):
    """Out of the Trash (Admin, within MAESTRO_TRASH_DAYS of the deletion): the graph as JSON."""
    graph = trash.restorable(graph_id, current_user())
    trash.restore(graph)
    db.session.commit()
    return jsonify(graph_json(graph, Role.ADMIN))


@api_bp.post("/graphs/<graph_id>/rerun")
def rerun(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    rerun_graph(graph)
    db.session.commit()
    return jsonify(graph_json(graph, role)), 202


@api_bp.get("/graphs/<graph_id>/roles")
def list_roles(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    return jsonify(items=[role_json(grant) for grant in roles_of(graph)])


@api_bp.put("/graphs/<graph_id>/roles")
def put_role(graph_id: str):
    """Grant or change a role: {"email": ..., "role": "read" | "write" | "admin" | 1 | 3 | 7}; an
    address without an account is invited instead (202, SPEC §4)."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.ADMIN)
    body = parse_body(RoleGrant)
    role = Role[body.role.upper()] if isinstance(body.role, str) else Role(body.role)
    by = signed_in_user()
    spend_role_grant(by.public_id)  # an invitation counts too: it sends mail
    granted = grant_or_invite(graph, body.email, role, by)  # RoleChangeRefused: errors.py answers it
    db.session.commit()
    if granted.invitation is not None:
        send_invitation(granted.invitation, granted.token, by)
        return jsonify(invited=True, invitation=invitation_json(granted.invitation)), 202
    assert granted.grant is not None
    if granted.changed:
        send_access_granted(granted.grant, by)
    return jsonify(role_json(granted.grant))


@api_bp.get("/graphs/<graph_id>/invitations")
def list_invitations(graph_id: str):
    """The graph's pending invitations (Admin: they name addresses that have no account here)."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.ADMIN)
    return jsonify(items=[invitation_json(invitation) for invitation in pending_invitations(graph)])


@api_bp.delete("/graphs/<graph_id>/invitations/<invitation_id>")
def delete_invitation(graph_id: str, invitation_id: str):
    """Withdraw a pending invitation: its link stops working at once."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.ADMIN)
    withdraw(graph, invitation_id)
    db.session.commit()
    return "", 204


@api_bp.delete("/graphs/<graph_id>/roles/<user_id>")
def delete_role(graph_id: str, user_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.ADMIN)
    remove_role(graph, user_id)
    db.session.commit()
    return "", 204
