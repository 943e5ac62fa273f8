"""graphs, roles on graphs, and analysis runs

Revision ID: 0002_graphs
Revises: 0001_users
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_graphs"
down_revision = "0001_users"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "graphs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_graphs_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graphs")),
        sa.UniqueConstraint("public_id", name=op.f("uq_graphs_public_id")),
    )
    op.create_index(op.f("ix_graphs_created_at"), "graphs", ["created_at"], unique=False)
    op.create_index(op.f("ix_graphs_status"), "graphs", ["status"], unique=False)
    op.create_table(
        "graph_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], name=op.f("fk_graph_roles_graph_id_graphs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_graph_roles_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_roles")),
        sa.UniqueConstraint("graph_id", "user_id", name="uq_graph_roles_graph_user"),
    )
    op.create_index(op.f("ix_graph_roles_graph_id"), "graph_roles", ["graph_id"], unique=False)
    op.create_index(op.f("ix_graph_roles_user_id"), "graph_roles", ["user_id"], unique=False)
    op.create_table(
        "graph_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], name=op.f("fk_graph_runs_graph_id_graphs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_runs")),
        sa.UniqueConstraint("public_id", name=op.f("uq_graph_runs_public_id")),
    )
    op.create_index(op.f("ix_graph_runs_graph_id"), "graph_runs", ["graph_id"], unique=False)
    op.create_index(op.f("ix_graph_runs_queued_at"), "graph_runs", ["queued_at"], unique=False)
    op.create_index(op.f("ix_graph_runs_state"), "graph_runs", ["state"], unique=False)


def downgrade():
    op.drop_table("graph_runs")
    op.drop_table("graph_roles")
    op.drop_index(op.f("ix_graphs_status"), table_name="graphs")
    op.drop_index(op.f("ix_graphs_created_at"), table_name="graphs")
    op.drop_table("graphs")
