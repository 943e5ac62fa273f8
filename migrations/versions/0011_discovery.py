"""Discovery sources, crawls, discovered nodes and edges, graph versions (SPEC §11, §13)

Revision ID: 0011_discovery
Revises: 0010_live_control_outbox
Create Date: 2026-12-06

Each source owns what it discovered (discovered_nodes / discovered_edges); the hand-written spec
stays in graphs.spec, untouched by crawls. A partial unique index allows one running crawl per
source (a second start is refused with 409 even when two requests race). graph_versions is the
history: one row per change of a graph's dependencies, with what it added and removed.
"""
import sqlalchemy as sa
from alembic import op


revision = "0011_discovery"
down_revision = "0010_live_control_outbox"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "discovery_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("input", sa.LargeBinary(), nullable=True),
        sa.Column("input_size", sa.Integer(), nullable=False),
        sa.Column("sealed_credentials", sa.Text(), nullable=True),
        sa.Column("key_id_end", sa.String(length=4), nullable=True),
        sa.Column("schedule", sa.String(length=16), nullable=False),
        sa.Column("next_crawl_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index("ix_discovery_sources_graph_id", "discovery_sources", ["graph_id"])
    op.create_index("ix_discovery_sources_next_crawl_at", "discovery_sources", ["next_crawl_at"])

    op.create_table(
        "discovery_crawls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["discovery_sources.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index("ix_discovery_crawls_graph_id", "discovery_crawls", ["graph_id"])
    op.create_index("ix_discovery_crawls_source_crawl", "discovery_crawls", ["source_id", "id"])
    op.create_index("uq_discovery_crawls_running", "discovery_crawls", ["source_id"], unique=True,
                    sqlite_where=sa.text("status = 'running'"), postgresql_where=sa.text("status = 'running'"))

    op.create_table(
        "discovered_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["discovery_sources.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "name", name="uq_discovered_nodes_source_name"),
    )
    op.create_index("ix_discovered_nodes_graph_id", "discovered_nodes", ["graph_id"])

    op.create_table(
        "discovered_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("target_name", sa.String(length=100), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.String(length=16), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=True),
        sa.Column("p50_ms", sa.Float(), nullable=True),
        sa.Column("p99_ms", sa.Float(), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["discovery_sources.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "source_name", "target_name", name="uq_discovered_edges_source_pair"),
    )
    op.create_index("ix_discovered_edges_graph_id", "discovered_edges", ["graph_id"])

    op.create_table(
        "graph_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("source_label", sa.String(length=120), nullable=True),
        sa.Column("source_public_id", sa.String(length=32), nullable=True),
        sa.Column("added", sa.JSON(), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["source_id"], ["discovery_sources.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("graph_id", "number", name="uq_graph_versions_graph_number"),
    )


def downgrade():
    op.drop_table("graph_versions")
    op.drop_index("ix_discovered_edges_graph_id", table_name="discovered_edges")
    op.drop_table("discovered_edges")
    op.drop_index("ix_discovered_nodes_graph_id", table_name="discovered_nodes")
    op.drop_table("discovered_nodes")
    op.drop_index("uq_discovery_crawls_running", table_name="discovery_crawls")
    op.drop_index("ix_discovery_crawls_source_crawl", table_name="discovery_crawls")
    op.drop_index("ix_discovery_crawls_graph_id", table_name="discovery_crawls")
    op.drop_table("discovery_crawls")
    op.drop_index("ix_discovery_sources_next_crawl_at", table_name="discovery_sources")
    op.drop_index("ix_discovery_sources_graph_id", table_name="discovery_sources")
    op.drop_table("discovery_sources")
