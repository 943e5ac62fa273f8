"""Workflows that span several rows: creating, changing, sharing access to and deleting graphs."""

from __future__ import annotations

import base64
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal_column, select, true
from sqlalchemy.orm import aliased, joinedload

from maestro_web.auth.emails import InvalidEmail, check_email
from maestro_web.domain.dependencies import Dependencies, current_dependencies, difference, hand_spec, record_version
from maestro_web.domain.invitations import invite
from maestro_web.extensions import db
from maestro_web.graphs.quotas import check_new_graph, check_new_run
from maestro_web.models import Graph, GraphRole, GraphRun, Invitation, Role, User
from maestro_web.models.share_rules import working_links
from maestro_web.refusals import Kind, Refused


class RoleChangeRefused(Refused):
    """A role change that would break a rule: INVALID for an address (field "email"), CONFLICT for the
    last Admin, NOT_FOUND for a grant that is not there."""


@dataclass
class GraphChanges:
    name: str
    type: str
    description: str
    spec: str
    show_description: bool | None = None  # None: keep as it is (a new graph: off)


def create_graph(owner: User, changes: GraphChanges) -> Graph:
    """A new graph owned by `owner` (its first Admin), queued for the worker; QuotaExceeded
    past the owner's quotas."""
    check_new_graph(owner)
    graph = Graph(
        owner=owner,
        name=changes.name.strip(),
        type=changes.type,
        description=changes.description or "",
        spec=changes.spec or "",
        info={},
        show_description=bool(changes.show_description),
    )
    graph.roles.append(GraphRole(user=owner, role=Role.ADMIN))
    db.session.add(graph)
    db.session.flush()
    graph.queue_run()
    record_version(graph, difference(Dependencies(), hand_spec(graph)), user=owner)  # its first version
    return graph


def same_name_count(graph: Graph) -> int:
    """How many of its owner's graphs (not deleted) have this graph's name, itself included; case and
    surrounding spaces ignored."""
    return (
        db.session.scalar(
            select(func.count(Graph.id)).where(
                Graph.owner_id == graph.owner_id,
                Graph.deleted_at.is_(None),
                func.lower(Graph.name) == graph.name.strip().lower(),
            )
        )
        or 0
    )


def update_graph(graph: Graph, changes: GraphChanges, by: User | None = None) -> bool:
    """Apply the changes; a changed spec queues a new run and, when the graph's dependencies (the
    spec united with what its sources discovered) changed, is a new version by `by`. True when a
    run was queued. QuotaExceeded (nothing changed) when that run is past the owner's quotas."""
    spec_changed = (changes.spec or "") != (graph.spec or "")
    if spec_changed:
        check_new_run(graph.owner, graph)
    before = current_dependencies(graph) if spec_changed else None
    graph.name = changes.name.strip()
    graph.type = changes.type
    graph.description = changes.description or ""
    if changes.show_description is not None:
        graph.show_description = changes.show_description
    graph.spec = changes.spec or ""
    if spec_changed:
        graph.queue_run()
        assert before is not None
        record_version(graph, difference(before, current_dependencies(graph)), user=by)
    return spec_changed


def rerun(graph: Graph) -> None:
    """Queue a new run of an unchanged graph ("Re-run"); QuotaExceeded past the owner's quotas."""
    check_new_run(graph.owner, graph)
    graph.queue_run()


def grant_role(graph: Graph, email: str, role: Role) -> GraphRole:
    """Give (or change) the role of the registered user with this e-mail."""
    user = User.get_by_email(email)
    if user is None:
        raise RoleChangeRefused("There is no registered user with this e-mail address.", "email")
    existing = db.session.scalar(select(GraphRole).where(GraphRole.graph_id == graph.id, GraphRole.user_id == user.id))
    if existing is None:
        existing = GraphRole(graph=graph, user=user, role=int(role))
        db.session.add(existing)
        return existing
    if existing.role == Role.ADMIN and role != Role.ADMIN and graph.admin_count() <= 1:
        raise RoleChangeRefused(
            "The last Admin of a graph cannot be downgraded; make someone else Admin first.", kind=Kind.CONFLICT
        )
    existing.role = int(role)
    return existing


@dataclass
class Granted:
    """What granting a role by e-mail did: a registered user's role, or an invitation of the address."""

    grant: GraphRole | None = None
    invitation: Invitation | None = None
    token: str = ""  # the invitation link's token, for its e-mail (never stored)
    changed: bool = False  # the user's role is new or another one: worth an e-mail


def grant_or_invite(graph: Graph, email: str, role: Role, by: User) -> Granted:
    """Grant `role` to the registered user with this e-mail, or invite the address when no account
    has it (SPEC §4). RoleChangeRefused: INVALID for an address no account could have, CONFLICT for the last Admin."""
    user = User.get_by_email(email)
    if user is None:
        try:
            address = check_email(email)
        except InvalidEmail as exc:
            raise RoleChangeRefused(str(exc), "email") from None
        invitation, token = invite(graph, address, role, by)
        return Granted(invitation=invitation, token=token)
    before = graph.role_of(user)
    grant = grant_role(graph, email, role)
    return Granted(grant=grant, changed=before != role)


def last_admin_id(graph: Graph, grants: list[GraphRole]) -> int | None:
    """The user id of the graph's only Admin, whose role may be neither removed nor lowered; else None."""
    admins = [grant.user_id for grant in grants if grant.role >= Role.ADMIN]
    return admins[0] if len(admins) == 1 else None


def grant_of(graph: Graph, user_public_id: str) -> GraphRole:
    """The role of that user on `graph`; refused (NOT_FOUND) when there is none."""
    grant = db.session.scalar(
        select(GraphRole).join(User).where(GraphRole.graph_id == graph.id, User.public_id == user_public_id)
    )
    if grant is None:
        raise RoleChangeRefused("This user has no role on this graph.", kind=Kind.NOT_FOUND)
    return grant


def working_links_by_creator(graph: Graph) -> Counter[int]:
    """How many links of `graph` each creator has working now: what removing their access stops (SPEC
    §3.2). A creator without Write has none (their links stopped already). One query: share_rules.working_links."""
    return Counter(row.creator_id for row in db.session.execute(working_links(graph.id)))


def remove_role(graph: Graph, user_public_id: str) -> None:
    grant = grant_of(graph, user_public_id)
    if grant.role == Role.ADMIN and graph.admin_count() <= 1:
        raise RoleChangeRefused(
            "The last Admin of a graph cannot be removed; make someone else Admin first.", kind=Kind.CONFLICT
        )
    db.session.delete(grant)


# Lists never count past this: "100+ graphs" costs the same whatever the database holds.
COUNT_CAP = 100


class BadCursor(Refused):
    """A `cursor` parameter that this list did not hand out."""

    kind = Kind.BAD_REQUEST


@dataclass(frozen=True)
class Cursor:
    """Where a keyset page starts: after (older than) or before (newer than) a graph id, or the
    oldest page ("last"). `page` is only for display ("Page 3 of 12")."""

    direction: str  # "after", "before" or "last"
    key: int = 0
    page: int = 1  # 0 when not known (a page reached from the end of a list too long to count)

    def encode(self) -> str:
        raw = f"{self.direction[0]}.{self.key}.{self.page}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            raise BadCursor("cursor is not one this list handed out.", "cursor") from None
        match = re.fullmatch(r"([abl])\.([0-9]{1,12})\.([0-9]{1,7})", raw)
        if not match or len(value) > 64:
            raise BadCursor("cursor is not one this list handed out.", "cursor")
        direction = {"a": "after", "b": "before", "l": "last"}[match.group(1)]
        return cls(direction, int(match.group(2)), int(match.group(3)))  # page 0: not known


@dataclass
class GraphPage:
    """One page of a list: rows of (graph, the user's role), a bounded total and the cursors around it."""

    rows: list[tuple[Graph, Role]]
    total: int  # exact unless `total_exact` is False; then "at least COUNT_CAP"
    total_exact: bool
    page: int | None  # None on the "last" page of a list too long to count
    per_page: int
    next: Cursor | None = None
    prev: Cursor | None = None
    last: Cursor | None = None

    @property
    def graphs(self) -> list[Graph]:
        return [graph for graph, _ in self.rows]

    @property
    def pages(self) -> int | None:
        return max(1, -(-self.total // self.per_page)) if self.total_exact else None


def _visible(user: User, search: str, status: str) -> tuple[Select[Any], Any]:
    """Graphs the user holds any role on, with that role, optionally filtered; unordered. Returns the
    query and the graph entity in it (to hang loader options on)."""
    conditions: list[Any] = [Graph.deleted_at.is_(None)]
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        # lower(name) LIKE: the expression PostgreSQL's trigram index (migration 0005) is built on.
        conditions.append(func.lower(Graph.name).like(f"%{escaped}%", escape="\\"))
    if status:
        conditions.append(Graph.status == status)
    # With a status, the role row's copy of it (models/graph.py) picks the rows from its own index;
    # the graph's status above stays the truth each row is checked against.
    roles = [GraphRole.user_id == user.id, *([GraphRole.graph_status == status] if status else [])]
    if not search and db.session.get_bind().dialect.name == "postgresql":
        # Walk the user's roles in (user_id, graph_id) order and look each graph up by its key, stopping
        # after one page. Left to itself the planner often prefers a hash or merge join that reads the
        # graphs of every user (15-60 ms at 100k graphs, EXPLAIN in docs/scale.md); OFFSET 0 makes the
        # LATERAL subquery a fence it cannot flatten. A search keeps the plain join: there the trigram
        # index, which reads only matching graphs, is usually the better start.
        inner = select(Graph).where(Graph.id == GraphRole.graph_id, *conditions).offset(0).lateral("visible_graph")
        shown = aliased(Graph, inner)
        query = select(shown, GraphRole.role).select_from(GraphRole).join(inner, true()).where(*roles)
        return query, shown
    query = select(Graph, GraphRole.role).join(GraphRole, GraphRole.graph_id == Graph.id).where(*roles, *conditions)
    return query, Graph


def graphs_visible_to(user: User, search: str = "", status: str = "") -> Select[Any]:
    """Graphs the user holds any role on, newest first (ids grow with creation time), optionally filtered."""
    return _visible(user, search, status)[0].order_by(GraphRole.graph_id.desc())


def bounded_count(query: Select[Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(rows, exact): counts at most `cap` rows, so a long list costs no more than a short one."""
    limited = query.order_by(None).with_only_columns(literal_column("1")).limit(cap + 1).subquery()
    total = db.session.scalar(select(func.count()).select_from(limited)) or 0
    return (total, True) if total <= cap else (cap, False)


def list_graphs(
    user: User,
    *,
    search: str = "",
    status: str = "",
    per_page: int = 20,
    page: int | None = None,
    cursor: Cursor | None = None,
) -> GraphPage:
    """One page of the user's graphs, newest first, by keyset (`cursor`) or, for old links, by `page` number.

    Keyset pages walk the (user_id, graph_id) index from a known id and stop after one page, so the
    first, a middle and the last page cost the same; only `page=N` still offsets (kept for clients
    that use it). Roles come from the same query; the total is bounded (COUNT_CAP)."""
    base, shown = _visible(user, search, status)
    key = GraphRole.graph_id  # the role row's copy of the graph id: the index gives it in order
    total, exact = bounded_count(base)
    base = base.options(joinedload(shown.owner))  # the JSON names each owner: no query per graph
    rows: list[Any]
    if cursor is None:
        number = page or 1
        rows = list(db.session.execute(base.order_by(key.desc()).limit(per_page + 1).offset((number - 1) * per_page)))
        more_after, more_before = len(rows) > per_page, number > 1
        rows = rows[:per_page]
    elif cursor.direction == "after":
        number = cursor.page
        rows = list(db.session.execute(base.where(key < cursor.key).order_by(key.desc()).limit(per_page + 1)))
        more_after, more_before = len(rows) > per_page, True
        rows = rows[:per_page]
    else:  # "before" (a newer page) or "last" (the oldest page): walk up, then show newest first
        query = base.where(key > cursor.key) if cursor.direction == "before" else base
        rows = list(db.session.execute(query.order_by(key.asc()).limit(per_page + 1)))
        more_before, more_after = len(rows) > per_page, cursor.direction == "before"
        if cursor.direction == "before" and not more_before:  # back at the top: the first page, full
            return list_graphs(user, search=search, status=status, per_page=per_page)
        rows = rows[:per_page][::-1]
        if cursor.direction == "last":
            number = max(1, -(-total // per_page)) if exact else 0
        else:
            number = cursor.page
    result = GraphPage(
        rows=[(graph, Role(role)) for graph, role in rows],
        total=total,
        total_exact=exact,
        page=number or None,
        per_page=per_page,
    )
    if rows and more_after:
        result.next = Cursor("after", rows[-1][0].id, number + 1 if number else 0)
        result.last = Cursor("last")
    if rows and more_before and number != 1:
        result.prev = Cursor("before", rows[0][0].id, max(1, number - 1) if number else 0)
    return result


def newest_runs(graphs: list[Graph]) -> dict[int, GraphRun]:
    """The newest run of each graph, in one query (graph id -> run)."""
    if not graphs:
        return {}
    newest = (
        select(func.max(GraphRun.id))
        .where(GraphRun.graph_id.in_([graph.id for graph in graphs]))
        .group_by(GraphRun.graph_id)
    )
    return {run.graph_id: run for run in db.session.scalars(select(GraphRun).where(GraphRun.id.in_(newest)))}


def paginate(query: Select[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return items, total


def roles_of(graph: Graph) -> list[GraphRole]:
    return list(
        db.session.scalars(
            select(GraphRole)
            .join(User)
            .where(GraphRole.graph_id == graph.id)
            .order_by(GraphRole.role.desc(), User.email)
        )
    )
