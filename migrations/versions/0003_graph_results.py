"""results reported by the analytics worker

Revision ID: 0003_graph_results
Revises: 0002_graphs
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_graph_results"
down_revision = "0002_graphs"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "graph_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("svg", sa.Text(), nullable=True),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], name=op.f("fk_graph_results_graph_id_graphs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["graph_runs.id"], name=op.f("fk_graph_results_run_id_graph_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_results")),
        sa.UniqueConstraint("run_id", name=op.f("uq_graph_results_run_id")),
    )
    op.create_index(op.f("ix_graph_results_graph_id"), "graph_results", ["graph_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_graph_results_graph_id"), table_name="graph_results")
    op.drop_table("graph_results")
