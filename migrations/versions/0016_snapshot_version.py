"""share links: the version of the graph a snapshot link was made from (SPEC §13)

Revision ID: 0016_snapshot_version
Revises: 0015_graph_show_description
Create Date: 2026-12-06

- snapshot_version: the graph's newest version number (graph_versions.number) when a snapshot link
  was created; NULL for live links, and for snapshot links made before versions were kept. A plain
  number, not a foreign key: it keeps naming the version it was made from whatever history does.
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_snapshot_version"
down_revision = "0015_graph_show_description"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("share_links") as batch:
        batch.add_column(sa.Column("snapshot_version", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("share_links") as batch:
        batch.drop_column("snapshot_version")
