"""graphs.show_description: the owner's choice to show the description to visitors of share links

Revision ID: 0015_graph_show_description
Revises: 0014_invitations
Create Date: 2026-12-06

Off for every existing graph: a description written for colleagues is not published by an upgrade.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_graph_show_description"
down_revision = "0014_invitations"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("graphs") as batch:
        batch.add_column(sa.Column("show_description", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("graphs") as batch:
        batch.drop_column("show_description")
