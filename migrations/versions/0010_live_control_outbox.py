"""live_control_outbox: revocations kept until a live server takes them (issue 20 §4)

Revision ID: 0010_live_control_outbox
Revises: 0009_graph_owner_index
Create Date: 2026-12-06

A logout, a password change or a stopped link is announced to the live servers as a control
event. It used to be posted once and dropped when no live server answered, so a ticket issued
before the change was welcomed again after the live server came back. The event is now written in
the same transaction as the change and deleted once a live server accepted it (docs/live.md).
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_live_control_outbox"
down_revision = "0009_graph_owner_index"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "live_control_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_live_control_outbox_created_at", "live_control_outbox", ["created_at"], unique=False)


def downgrade():
    op.drop_index("ix_live_control_outbox_created_at", table_name="live_control_outbox")
    op.drop_table("live_control_outbox")
