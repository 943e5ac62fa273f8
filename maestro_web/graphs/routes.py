"""Thin views over graphs/services.py; every graph is loaded through access.authorize_graph()."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from maestro_web.domain import examples
from maestro_web.domain.access import authorize_graph
from maestro_web.domain.invitations import (
    NoSuchInvitation,
    pending_invitations,
    send_access_granted,
    send_invitation,
    withdraw,
)
from maestro_web.errors import status_of
from maestro_web.extensions import db
from maestro_web.graphs import graphs_bp, trash
from maestro_web.graphs.forms import DeleteGraphForm, GraphForm, NewGraphForm, RoleChangeForm, RoleForm
from maestro_web.graphs.services import (
    Cursor,
    GraphChanges,
    RoleChangeRefused,
    create_graph,
    grant_of,
    grant_or_invite,
    grant_role,
    last_admin_id,
    list_graphs,
    remove_role,
    roles_of,
    same_name_count,
    update_graph,
    working_links_by_creator,
)
from maestro_web.graphs.services import (
    rerun as rerun_graph,
)
from maestro_web.limits import MAX_PAGE, MAX_SEARCH_LENGTH
from maestro_web.models import Role
from maestro_web.models.graph import GRAPH_STATUSES, Graph, GraphResult
from maestro_web.models.share_rules import STOPPED, Outcome, visitors_see
from maestro_web.refusals import Refused
from maestro_web.security.session_jwt import current_user, signed_in_user
from maestro_web.sources.panels import dependencies_context, discovered_by_source
from maestro_web.web.rate_limits import spend_role_grant
from maestro_web.web.words import status_word

PER_PAGE = 20


def _changes(form: GraphForm) -> GraphChanges:
    return GraphChanges(
        name=form.name.data or "",
        type=form.type.data,
        description=form.description.data or "",
        spec=form.spec.data or "",
        show_description=bool(form.show_description.data),
    )


def _page_number() -> int:
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        abort(400, "page must be a whole number.")
    if page > MAX_PAGE:  # a 30-digit page would overflow the database's OFFSET
        abort(400, f"page must be at most {MAX_PAGE}.")
    return page


@graphs_bp.get("/graphs/")
def index():
    search = request.args.get("q", "").strip()[:MAX_SEARCH_LENGTH]
    status = request.args.get("status", "")
    if status and status not in GRAPH_STATUSES:
        abort(400, "status must be one of: " + ", ".join(GRAPH_STATUSES) + ".")
    cursor = Cursor.decode(request.args["cursor"]) if request.args.get("cursor") else None  # BadCursor: 400
    page = None if cursor else _page_number()
    found = list_graphs(current_user(), search=search, status=status, per_page=PER_PAGE, page=page, cursor=cursor)
    return render_template(
        "graphs/index.html", found=found, graphs=found.graphs, search=search, status=status, statuses=GRAPH_STATUSES
    )


@graphs_bp.route("/graphs/new", methods=["GET", "POST"])
def create():
    form = NewGraphForm()
    if form.validate_on_submit():
        graph = create_graph(current_user(), _changes(form))
        db.session.commit()
        flash("Graph created. The analytics worker will draw it shortly.", "success until-drawn")
        if same_name_count(graph) > 1:  # a gentle word, not a refusal: two graphs may share a name
            flash(
                f"You now have {same_name_count(graph)} graphs named “{graph.name}”; rename one on its Edit page "
                "to tell them apart.",
                "warning",
            )
        return redirect(url_for("graphs.detail", graph_id=graph.public_id))
    status = 422 if request.method == "POST" else 200
    return render_template("graphs/form.html", form=form, graph=None, example_spec=examples.WEB_SHOP), status


@graphs_bp.get("/graphs/<graph_id>")
def detail(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user())
    return render_template(
        "graphs/detail.html",
        graph=graph,
        role=role,
        run=graph.current_run(),
        page=_overview_picture(graph),
        private=True,
        graph_id=graph.public_id,
        **dependencies_context(graph),
    )


def _overview_picture(graph: Graph) -> dict[str, Any]:
    """What the Overview's picture (templates/analytics/_picture.html) reads: the newest drawn picture,
    sanitized by an allow-list when the worker posted it, and the status its warning line needs."""
    picture = GraphResult.latest_for(graph, with_picture=True)
    return {
        "svg": Markup(picture.svg) if picture is not None and picture.svg is not None else None,
        "status": graph.status,
        "message": graph.message,
    }


@graphs_bp.route("/graphs/<graph_id>/edit", methods=["GET", "POST"])
def edit(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    form = GraphForm(obj=graph)
    if form.validate_on_submit():
        queued = update_graph(graph, _changes(form), by=current_user())
        db.session.commit()
        flash(
            "Saved. " + ("The changed dependencies were queued for the analytics worker." if queued else ""), "success"
        )
        return redirect(url_for("graphs.detail", graph_id=graph.public_id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "graphs/form.html",
        form=form,
        graph=graph,
        role=role,
        example_spec=examples.WEB_SHOP,
        discovered=discovered_by_source(graph),
    ), status


@graphs_bp.post("/graphs/<graph_id>/rerun")
def rerun(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    rerun_graph(graph)
    db.session.commit()
    flash("Queued for the analytics worker.", "success")
    return redirect(url_for("graphs.detail", graph_id=graph.public_id))


@graphs_bp.route("/graphs/<graph_id>/access", methods=["GET", "POST"])
def access(graph_id: str):
    # Anyone with Read sees who has access; only an Admin changes it.
    graph, role = authorize_graph(graph_id, current_user(), Role.ADMIN if request.method == "POST" else Role.READ)
    form = RoleForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            by = signed_in_user()
            spend_role_grant(by.public_id)  # an invitation counts too: it sends mail
            try:
                granted = grant_or_invite(graph, form.email.data or "", Role(int(form.role.data)), by)
                db.session.commit()
            except RoleChangeRefused as exc:
                db.session.rollback()
                form.email.errors = [*form.email.errors, str(exc)]
            else:
                if granted.invitation is not None:
                    send_invitation(granted.invitation, granted.token, by)
                    flash(
                        f"{granted.invitation.email} has no account yet: an invitation to the "
                        f"{granted.invitation.role_enum.label} role is on its way (its link works for 7 days).",
                        "success",
                    )
                elif granted.grant is not None:
                    if granted.changed:
                        send_access_granted(granted.grant, by)
                    flash(f"{granted.grant.user.email} now has the {granted.grant.role_enum.label} role.", "success")
                return redirect(url_for("graphs.access", graph_id=graph.public_id))
        status = 422
    return _access_page(graph, role, form, status)


def _refused_page(graph: Graph, role: Role, refused: Refused, status: int | None = None):
    """A refused change of access, on the access page it came from: nothing of it is kept, the
    refusal's words above the list, its status (errors.status_of) unless the route says otherwise."""
    db.session.rollback()
    return _access_page(graph, role, RoleForm(formdata=None), status or status_of(refused), error=refused.message)


def _access_page(graph, role, form, status, error=None):
    working = working_links_by_creator(graph) if role.can_admin else {}
    grants = roles_of(graph)
    return render_template(
        "graphs/access.html",
        graph=graph,
        role=role,
        form=form,
        grants=grants,
        working=working,
        error=error,
        last_admin=last_admin_id(graph, grants),
        invitations=pending_invitations(graph) if role.can_admin else [],
        change_form=RoleChangeForm(formdata=None),
    ), status


@graphs_bp.post("/graphs/<graph_id>/access/<user_id>/role")
def change_role(graph_id: str, user_id: str):
    """The select on a person's row: another role for someone who has one."""
    graph, role = authorize_graph(graph_id, current_user(), Role.ADMIN)
    form = RoleChangeForm()
    if not form.validate_on_submit():
        return _access_page(graph, role, RoleForm(formdata=None), 422, error="Choose Read, Write or Admin.")
    by = signed_in_user()
    spend_role_grant(by.public_id)
    try:
        grant = grant_of(graph, user_id)
        changed = grant.role != int(form.role.data)
        # Below Write, the links they made stop (SPEC §3.2): counted before, said after.
        stopping = working_links_by_creator(graph)[grant.user_id] if int(form.role.data) < Role.WRITE else 0
        grant = grant_role(graph, grant.user.email, Role(int(form.role.data)))
        db.session.commit()
    except RoleChangeRefused as exc:
        return _refused_page(graph, role, exc)
    if changed:
        send_access_granted(grant, by)
    flash(f"{grant.user.email} now has the {grant.role_enum.label} role.{links_stopped(stopping)}", "success")
    return redirect(url_for("graphs.access", graph_id=graph.public_id))


def links_stopped(count: int) -> str:
    """What losing Write did to the person's links, for the flash: they read "Stopped" now (share_rules)."""
    if not count:
        return ""
    links = "1 active link" if count == 1 else f"{count} active links"
    return (
        f" The {links} they made of this graph {'is' if count == 1 else 'are'} now {status_word(STOPPED)}: "
        f"visitors get {visitors_see(Outcome.CREATOR_LOST_WRITE)} until they get Write back."
    )


@graphs_bp.post("/graphs/<graph_id>/invitations/<invitation_id>/withdraw")
def withdraw_invitation(graph_id: str, invitation_id: str):
    """Withdraw a pending invitation: its link stops working at once."""
    graph, role = authorize_graph(graph_id, current_user(), Role.ADMIN)
    try:
        invitation = withdraw(graph, invitation_id)
    except NoSuchInvitation as exc:
        return _refused_page(graph, role, exc)
    db.session.commit()
    flash(f"The invitation of {invitation.email} is withdrawn; its link no longer works.", "success")
    return redirect(url_for("graphs.access", graph_id=graph.public_id))


@graphs_bp.get("/graphs/<graph_id>/access/<user_id>/remove")
def confirm_remove_access(graph_id: str, user_id: str):
    """The no-JS confirmation of "Remove" (the button's <dialog> says the same); it posts to remove_access."""
    graph, role = authorize_graph(graph_id, current_user(), Role.ADMIN)
    try:
        grant = grant_of(graph, user_id)
    except RoleChangeRefused as exc:
        return _refused_page(graph, role, exc)
    return render_template(
        "confirm.html",
        q={
            "kind": "remove_access",
            "graph": graph,
            "grant": grant,
            "active_links": working_links_by_creator(graph)[grant.user_id],
        },
        post_url=url_for("graphs.remove_access", graph_id=graph.public_id, user_id=user_id),
        cancel_url=url_for("graphs.access", graph_id=graph.public_id),
        hidden=(),
    )


@graphs_bp.post("/graphs/<graph_id>/access/<user_id>/remove")
def remove_access(graph_id: str, user_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.ADMIN)
    try:
        stopping = working_links_by_creator(graph)[grant_of(graph, user_id).user_id]
        remove_role(graph, user_id)
    except RoleChangeRefused as exc:  # answered 409 even when the grant has gone meanwhile, as it always was
        return _refused_page(graph, role, exc, 409)
    db.session.commit()
    flash(f"Access removed.{links_stopped(stopping)}", "success")
    return redirect(url_for("graphs.access", graph_id=graph.public_id))


@graphs_bp.route("/graphs/<graph_id>/delete", methods=["GET", "POST"])
def delete(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.ADMIN)
    form = DeleteGraphForm(graph.name)
    if form.validate_on_submit():
        graph.soft_delete()
        db.session.commit()
        days = current_app.config["MAESTRO_TRASH_DAYS"]
        flash(f"Graph “{graph.name}” moved to the Trash; an Admin can restore it there for {days} days.", "success")
        return redirect(url_for("graphs.index"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "graphs/delete.html", graph=graph, role=role, form=form, trash_days=current_app.config["MAESTRO_TRASH_DAYS"]
    ), status


@graphs_bp.get("/graphs/trash")
def trash_page():
    days = current_app.config["MAESTRO_TRASH_DAYS"]
    return render_template(
        "graphs/trash.html", graphs=trash.trash_of(signed_in_user()), trash_days=days, trash_period=timedelta(days=days)
    )


@graphs_bp.post("/graphs/<graph_id>/restore")
def restore(graph_id: str):
    graph = trash.restorable(graph_id, current_user())
    trash.restore(graph)
    db.session.commit()
    flash(
        f"Graph “{graph.name}” restored; its links work again unless they expired or were revoked meanwhile.", "success"
    )
    return redirect(url_for("graphs.detail", graph_id=graph.public_id))
