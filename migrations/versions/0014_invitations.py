"""invitations: a role on a graph offered to an address without an account, by a mailed link

Revision ID: 0014_invitations
Revises: 0013_account_sessions_tokens
Create Date: 2026-12-06

One row per invitation (SPEC §4). The link's token is stored only as its SHA-256 (`token_digest`,
unique: the link finds its row). The state is in the timestamps: accepted_at, withdrawn_at,
expires_at (7 days); rows are kept after use, as share links are, so the Access page and an audit
can say what happened. Deleting a graph deletes its invitations.
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_invitations"
down_revision = "0013_account_sessions_tokens"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("graph_id", sa.Integer(), sa.ForeignKey("graphs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("public_id", name="uq_invitations_public_id"),
        sa.UniqueConstraint("token_digest", name="uq_invitations_token_digest"),
    )
    op.create_index("ix_invitations_graph_email", "invitations", ["graph_id", "email"])


def downgrade():
    op.drop_index("ix_invitations_graph_email", table_name="invitations")
    op.drop_table("invitations")
