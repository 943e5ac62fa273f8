"""indexes that match the list pages' access paths (issue 15)

Revision ID: 0005_list_indexes
Revises: 0004_share_links
Create Date: 2026-11-30

- graph_roles (user_id, graph_id): "the graphs I hold a role on, newest first" walks this index
  backwards (graph ids grow with creation time) and stops after one page; it replaces the
  single-column user_id index, which it covers.
- graph_runs (graph_id, id): the newest run of each listed graph in one probe per graph.
- share_links (creator_id, created_at) and (graph_id, created_at): "My shared links" and the shares
  of one graph, newest first, without sorting; they replace the single-column indexes they cover.
- share_links (revoked_at): `flask shares prune` finds links revoked long ago without a scan.
- PostgreSQL only: a trigram GIN index on lower(graphs.name), so `?q=` (a substring search) does
  not read every graph. SQLite keeps its plain LIKE.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_list_indexes"
down_revision = "0004_share_links"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_graph_roles_user_graph", "graph_roles", ["user_id", "graph_id"], unique=False)
    op.drop_index("ix_graph_roles_user_id", table_name="graph_roles")
    op.create_index("ix_graph_runs_graph_run", "graph_runs", ["graph_id", "id"], unique=False)
    op.drop_index("ix_graph_runs_graph_id", table_name="graph_runs")
    op.create_index("ix_share_links_creator_created", "share_links", ["creator_id", "created_at"], unique=False)
    op.drop_index("ix_share_links_creator_id", table_name="share_links")
    op.create_index("ix_share_links_graph_created", "share_links", ["graph_id", "created_at"], unique=False)
    op.drop_index("ix_share_links_graph_id", table_name="share_links")
    op.create_index("ix_share_links_revoked_at", "share_links", ["revoked_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_graphs_name_trgm ON graphs USING gin (lower(name) gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_graphs_name_trgm")
    op.drop_index("ix_share_links_revoked_at", table_name="share_links")
    op.create_index("ix_share_links_graph_id", "share_links", ["graph_id"], unique=False)
    op.drop_index("ix_share_links_graph_created", table_name="share_links")
    op.create_index("ix_share_links_creator_id", "share_links", ["creator_id"], unique=False)
    op.drop_index("ix_share_links_creator_created", table_name="share_links")
    op.create_index("ix_graph_runs_graph_id", "graph_runs", ["graph_id"], unique=False)
    op.drop_index("ix_graph_runs_graph_run", table_name="graph_runs")
    op.create_index("ix_graph_roles_user_id", "graph_roles", ["user_id"], unique=False)
    op.drop_index("ix_graph_roles_user_graph", table_name="graph_roles")
