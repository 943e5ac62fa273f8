"""reports: the weekly PDF by e-mail to chosen readers of a graph (issue 25 §3)

Revision ID: 0018_report_subscriptions
Revises: 0017_reports
Create Date: 2026-12-06

- report_subscriptions: a reader (user) of a graph who gets its PDF by e-mail in weeks when the graph
  changed; `code` is the one-click unsubscribe link's random capability; when the last mail went out
  and the graph's newest version then (the next report's "changes since").
- reports.weekly: the report was made for the subscribers, and is mailed to them once ready.
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_report_subscriptions"
down_revision = "0017_reports"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("graph_id", "user_id", name="uq_report_subscriptions_graph_user"),
    )
    op.create_index("ix_report_subscriptions_user_id", "report_subscriptions", ["user_id"])
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("weekly", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("weekly")
    op.drop_table("report_subscriptions")
