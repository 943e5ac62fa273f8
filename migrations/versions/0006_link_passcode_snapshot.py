"""share links: an optional passcode and snapshot mode (issue 14, SPEC §10)

Revision ID: 0006_link_passcode_snapshot
Revises: 0005_list_indexes
Create Date: 2026-11-30

- passcode_hash: the argon2id hash of the link's passcode, or NULL for a link without one. Setting
  or changing it makes a new hash (a new salt), which is what ends the browsers' passcode cookies.
- mode: "live" (the graph's newest picture, the default) or "snapshot".
- pinned_result_id: the result a snapshot link shows. History pruning keeps a result while a link
  points at it; if the result goes anyway (the graph was purged) the column becomes NULL and the
  snapshot link says so instead of showing a newer picture.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_link_passcode_snapshot"
down_revision = "0005_list_indexes"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("share_links") as batch:
        batch.add_column(sa.Column("passcode_hash", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("mode", sa.String(length=16), nullable=False, server_default="live"))
        batch.add_column(sa.Column("pinned_result_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_share_links_pinned_result_id_graph_results"), "graph_results", ["pinned_result_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_index(op.f("ix_share_links_pinned_result_id"), ["pinned_result_id"], unique=False)


def downgrade():
    with op.batch_alter_table("share_links") as batch:
        batch.drop_index(op.f("ix_share_links_pinned_result_id"))
        batch.drop_constraint(op.f("fk_share_links_pinned_result_id_graph_results"), type_="foreignkey")
        batch.drop_column("pinned_result_id")
        batch.drop_column("mode")
        batch.drop_column("passcode_hash")
