"""graph_roles.graph_status: a status filter that stays flat at scale (issue 15 goal 1)

Revision ID: 0007_role_graph_status
Revises: 0006_link_passcode_snapshot
Create Date: 2026-11-30

`?status=` on the lists of graphs could not be served from the role index: counting up to 100
matches looked up ~700 of "me"'s 5,050 graphs on the big database (50 on the empty one). Each role
row now carries a copy of its graph's status (NULL once the graph is deleted), kept by the models'
flush events (models/graph.py), and (user_id, graph_status, graph_id) gives the filtered list in
order. Existing rows are filled from their graphs.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_role_graph_status"
down_revision = "0006_link_passcode_snapshot"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("graph_roles") as batch:
        batch.add_column(sa.Column("graph_status", sa.String(length=16), nullable=True))
    op.execute("UPDATE graph_roles SET graph_status = (SELECT CASE WHEN graphs.deleted_at IS NULL THEN graphs.status END"
               " FROM graphs WHERE graphs.id = graph_roles.graph_id)")
    op.create_index("ix_graph_roles_user_status_graph", "graph_roles", ["user_id", "graph_status", "graph_id"],
                    unique=False)


def downgrade():
    op.drop_index("ix_graph_roles_user_status_graph", table_name="graph_roles")
    with op.batch_alter_table("graph_roles") as batch:
        batch.drop_column("graph_status")
