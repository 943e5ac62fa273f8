"""public share links

Revision ID: 0004_share_links
Revises: 0003_graph_results
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_share_links"
down_revision = "0003_graph_results"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "share_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("last_viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_views", sa.Integer(), nullable=True),
        sa.Column("allowed_origins", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["creator_id"], ["users.id"], name=op.f("fk_share_links_creator_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], name=op.f("fk_share_links_graph_id_graphs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
        sa.UniqueConstraint("public_id", name=op.f("uq_share_links_public_id")),
    )
    op.create_index(op.f("ix_share_links_creator_id"), "share_links", ["creator_id"], unique=False)
    op.create_index(op.f("ix_share_links_expires_at"), "share_links", ["expires_at"], unique=False)
    op.create_index(op.f("ix_share_links_graph_id"), "share_links", ["graph_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_share_links_graph_id"), table_name="share_links")
    op.drop_index(op.f("ix_share_links_expires_at"), table_name="share_links")
    op.drop_index(op.f("ix_share_links_creator_id"), table_name="share_links")
    op.drop_table("share_links")
