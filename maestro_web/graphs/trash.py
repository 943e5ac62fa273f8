"""The Trash: a deleted graph stays restorable by its Admins for MAESTRO_TRASH_DAYS, then
`flask graphs purge` removes it with everything that hangs on it (docs/operations.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphRole, Role, User
from maestro_web.models.base import utcnow
from maestro_web.refusals import NoSuch, NotAllowed

PURGE_BATCH = 200


def trash_cutoff(now: datetime | None = None) -> datetime:
    """Graphs deleted before this moment have left the Trash (and are due for purging)."""
    return (now or utcnow()) - timedelta(days=current_app.config["MAESTRO_TRASH_DAYS"])


def trash_of(user: User) -> list[Graph]:
    """The graphs in the Trash that `user` may restore (they are an Admin of them), newest deletion first."""
    return list(
        db.session.scalars(
            select(Graph)
            .join(GraphRole, GraphRole.graph_id == Graph.id)
            .where(GraphRole.user_id == user.id, GraphRole.role >= int(Role.ADMIN), Graph.deleted_at > trash_cutoff())
            .order_by(Graph.deleted_at.desc(), Graph.id.desc())
        )
    )


def restorable(public_id: str, user: User | None) -> Graph:
    """The graph in the Trash that `user` may restore; NoSuch (nothing revealed) or NotAllowed below
    Admin, as for a graph that is not deleted."""
    graph = Graph.get_deleted_by_public_id(public_id, trash_cutoff())
    role = graph.role_of(user) if graph is not None else None
    if graph is None or role is None:
        raise NoSuch("There is no such graph in the Trash, or you have no access to it.")
    if role < Role.ADMIN:
        raise NotAllowed(f"Restoring needs the {Role.ADMIN.label} role on this graph; you have {role.label}.")
    return graph


def restore(graph: Graph) -> None:
    graph.restore()


def purge(deleted_before: datetime) -> int:
    """Remove the graphs deleted before `deleted_before` and every row that refers to them; how many
    graphs. Children are deleted explicitly, table by table (children first), because SQLite does not
    enforce ON DELETE CASCADE unless told to on each connection."""
    children = [
        table
        for table in reversed(db.metadata.sorted_tables)
        if any(fk.column.table.name == Graph.__tablename__ and fk.column.name == "id" for fk in table.foreign_keys)
    ]
    purged = 0
    while True:
        ids = list(
            db.session.scalars(
                select(Graph.id).where(Graph.deleted_at < deleted_before).order_by(Graph.id).limit(PURGE_BATCH)
            )
        )
        if not ids:
            return purged
        for table in children:
            for fk in table.foreign_keys:
                if fk.column.table.name == Graph.__tablename__:
                    db.session.execute(delete(table).where(fk.parent.in_(ids)))
        db.session.execute(delete(Graph).where(Graph.id.in_(ids)).execution_options(synchronize_session=False))
        purged += len(ids)
        db.session.commit()
