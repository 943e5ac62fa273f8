"""reports: documents of a graph made by the report service (SPEC §12)

Revision ID: 0017_reports
Revises: 0016_snapshot_version
Create Date: 2026-12-06

- reports: one row a report (format pdf|xlsx|csv, status running|ready|failed, message, size, the
  version "changes since" starts from, who asked, when); the file itself in `data`, written with the
  status `ready` in one statement, so a failed or running report holds no half-file.
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_reports"
down_revision = "0016_snapshot_version"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("since", sa.Integer(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index("ix_reports_graph_created", "reports", ["graph_id", "created_at"])
    op.create_index("ix_reports_created_at", "reports", ["created_at"])
    op.create_index("ix_reports_requested_by_id", "reports", ["requested_by_id"])


def downgrade():
    op.drop_table("reports")
