"""/api/graphs: the graph pages as JSON, under the same rules (SPEC §4)."""
from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, request, url_for

from maestro_web.api import api_bp
from maestro_web.api.validation import json_body
from maestro_web.errors import json_error
from maestro_web.extensions import db
from maestro_web.graphs.access import graph_for
from maestro_web.graphs.forms import GraphForm
from maestro_web.graphs.services import (
    GraphChanges,
    RoleChangeRefused,
    create_graph,
    grant_role,
    graphs_visible_to,
    paginate,
    remove_role,
    roles_of,
    update_graph,
)
from maestro_web.models import Graph, GraphRole, Role
from maestro_web.models.graph import GRAPH_STATUSES
from maestro_web.security.session_jwt import current_user

GRAPH_FIELDS = ("name", "type", "description", "spec")
MAX_PER_PAGE = 100


def graph_json(graph: Graph, role: Role | None = None) -> dict[str, Any]:
    run = graph.current_run()
    return {
        "id": graph.public_id,
        "name": graph.name,
        "type": graph.type,
        "description": graph.description,
        "spec": graph.spec,
        "status": graph.status,
        "message": graph.message,
        "info": graph.info or {},
        "owner": {"id": graph.owner.public_id, "name": graph.owner.name},
        "role": role.label.lower() if role else None,
        "created_at": graph.created_at.isoformat(),
        "updated_at": graph.updated_at.isoformat(),
        "run": {"id": run.public_id, "state": run.state, "queued_at": run.queued_at.isoformat()} if run else None,
    }


def role_json(grant: GraphRole) -> dict[str, Any]:
    return {"user": {"id": grant.user.public_id, "name": grant.user.name, "email": grant.user.email},
            "role": grant.role_enum.label.lower(), "level": grant.role}


def _validated_changes(body: dict[str, Any], current: Graph | None) -> tuple[GraphChanges | None, Response | None]:
    """Validate with the page's form class; fields missing from a PATCH keep their values."""
    wrong_type = {name: "Must be a string." for name in GRAPH_FIELDS if name in body and not isinstance(body[name], str)}
    unknown = sorted(set(body) - set(GRAPH_FIELDS))
    if unknown:
        wrong_type.update({name: "Unknown field." for name in unknown})
    if wrong_type:
        return None, json_error(422, "Invalid fields: " + ", ".join(sorted(wrong_type)) + ".", fields=wrong_type)
    data = {name: getattr(current, name) for name in GRAPH_FIELDS} if current else {"type": "infra"}
    data.update({name: body[name] for name in GRAPH_FIELDS if name in body})
    form = GraphForm(formdata=None, data=data, meta={"csrf": False})
    if not form.validate():
        fields = {name: errors if name == "spec" else errors[0] for name, errors in form.errors.items()}
        response = json_error(422, "Invalid fields: " + ", ".join(sorted(fields)) + ".", fields=fields)
        if form.spec_lines:
            body_json = response.get_json()
            body_json["spec_lines"] = form.spec_lines
            response = jsonify(body_json)
            response.status_code = 422
        return None, response
    return GraphChanges(name=data["name"], type=data["type"], description=data.get("description") or "",
                        spec=data.get("spec") or ""), None


def _int_arg(name: str, default: int, maximum: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        abort(400, f"{name} must be a whole number.")
    if not 1 <= value <= maximum:
        abort(400, f"{name} must be between 1 and {maximum}.")
    return value


@api_bp.get("/graphs")
def list_graphs():
    status = request.args.get("status", "")
    if status and status not in GRAPH_STATUSES:
        abort(400, "status must be one of: " + ", ".join(GRAPH_STATUSES) + ".")
    page = _int_arg("page", 1, 1_000_000)
    per_page = _int_arg("per_page", 20, MAX_PER_PAGE)
    user = current_user()
    graphs, total = paginate(graphs_visible_to(user, request.args.get("q", "").strip(), status), page, per_page)
    return jsonify(items=[graph_json(g, g.role_of(user)) for g in graphs], page=page, per_page=per_page, total=total)


@api_bp.post("/graphs")
def create():
    body, problem = json_body()
    if problem:
        return problem
    changes, problem = _validated_changes(body, None)
    if problem:
        return problem
    graph = create_graph(current_user(), changes)
    db.session.commit()
    response = jsonify(graph_json(graph, Role.ADMIN))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_graph", graph_id=graph.public_id)
    return response


@api_bp.get("/graphs/<graph_id>")
def get_graph(graph_id: str):
    graph, role = graph_for(graph_id, current_user())
    return jsonify(graph_json(graph, role))


@api_bp.patch("/graphs/<graph_id>")
def patch_graph(graph_id: str):
    graph, role = graph_for(graph_id, current_user(), Role.WRITE)
    body, problem = json_body()
    if problem:
        return problem
    changes, problem = _validated_changes(body, graph)
    if problem:
        return problem
    update_graph(graph, changes)
    db.session.commit()
    return jsonify(graph_json(graph, role))


@api_bp.delete("/graphs/<graph_id>")
def delete_graph(graph_id: str):
    graph, _ = graph_for(graph_id, current_user(), Role.ADMIN)
    graph.soft_delete()
    db.session.commit()
    return "", 204


@api_bp.post("/graphs/<graph_id>/rerun")
def rerun(graph_id: str):
    graph, role = graph_for(graph_id, current_user(), Role.WRITE)
    graph.queue_run()
    db.session.commit()
    return jsonify(graph_json(graph, role)), 202


@api_bp.get("/graphs/<graph_id>/roles")
def list_roles(graph_id: str):
    graph, _ = graph_for(graph_id, current_user())
    return jsonify(items=[role_json(grant) for grant in roles_of(graph)])


@api_bp.put("/graphs/<graph_id>/roles")
def put_role(graph_id: str):
    """Grant or change a role: {"email": ..., "role": "read" | "write" | "admin" | 1 | 3 | 7}."""
    graph, _ = graph_for(graph_id, current_user(), Role.ADMIN)
    body, problem = json_body(required=("email",))
    if problem:
        return problem
    role = _parse_role(body.get("role"))
    if role is None:
        return json_error(422, "role must be read, write or admin (1, 3 or 7).", fields={"role": "Must be read, write or admin."})
    try:
        grant = grant_role(graph, body["email"], role)
    except RoleChangeRefused as exc:
        db.session.rollback()
        return json_error(exc.status, str(exc), fields={"email": str(exc)} if exc.status == 422 else None)
    db.session.commit()
    return jsonify(role_json(grant))


@api_bp.delete("/graphs/<graph_id>/roles/<user_id>")
def delete_role(graph_id: str, user_id: str):
    graph, _ = graph_for(graph_id, current_user(), Role.ADMIN)
    try:
        remove_role(graph, user_id)
    except RoleChangeRefused as exc:
        db.session.rollback()
        return json_error(exc.status, str(exc))
    db.session.commit()
    return "", 204


def _parse_role(value: object) -> Role | None:
    if isinstance(value, str) and value.upper() in Role.__members__:
        return Role[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool) and value in {r.value for r in Role}:
        return Role(value)
    return None
