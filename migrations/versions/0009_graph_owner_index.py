"""graphs.owner_id index: quotas and the fair job claim count per owner

Revision ID: 0009_graph_owner_index
Revises: 0008_result_svg_lz4
Create Date: 2026-12-06

The per-owner quotas (graphs owned, runs waiting, runs in the last hour) and the job claim's
round-robin across owners (when did a worker last take a run of this owner's?) all find an owner's
graphs; without an index each of them read the whole graphs table.
"""
from alembic import op

revision = "0009_graph_owner_index"
down_revision = "0008_result_svg_lz4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_graphs_owner_id", "graphs", ["owner_id"], unique=False)


def downgrade():
    op.drop_index("ix_graphs_owner_id", table_name="graphs")
