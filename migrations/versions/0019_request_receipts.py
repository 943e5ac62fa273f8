"""request_receipts: a request id whose work was committed, and how to answer it again (issue 26 §3)

Revision ID: 0019_request_receipts
Revises: 0018_report_subscriptions
Create Date: 2026-12-07

nginx retries a request cut off inside a killed gunicorn on the next one, with the same X-Request-ID;
the receipt, written in the same transaction as the work, lets the app answer that retry without doing
the work twice (models/receipt.py).
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_request_receipts"
down_revision = "0018_report_subscriptions"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "request_receipts",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.LargeBinary(), nullable=True),
        sa.Column("share_link_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_request_receipts_created_at", "request_receipts", ["created_at"])


def downgrade():
    op.drop_index("ix_request_receipts_created_at", table_name="request_receipts")
    op.drop_table("request_receipts")
