"""graph_results.svg: lz4 compression on PostgreSQL (issue 15 goal 3)

Revision ID: 0008_result_svg_lz4
Revises: 0007_role_graph_status
Create Date: 2026-11-30

PostgreSQL compresses a result's picture (about 100 KB of SVG text) when it stores it, inside the
ingest transaction. Its default method, pglz, took 1.8 ms of the server's CPU per 100 KB picture;
lz4 takes 0.35 ms (reading it back: 0.24 ms instead of 0.35), for 30 KB stored instead of 27 KB
(docs/benchmarks.md, "PostgreSQL transaction"). The stored text is the same; only values written
after the upgrade use lz4, older ones stay pglz and read as before.

Needs PostgreSQL 14 or newer built with lz4 (Debian's packages and the official images are).
Anywhere else (SQLite, an older PostgreSQL, a build without lz4) the upgrade changes nothing.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_result_svg_lz4"
down_revision = "0007_role_graph_status"
branch_labels = None
depends_on = None


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    # The setting exists from PostgreSQL 14 on, and names lz4 among its values only in builds with lz4.
    values = bind.execute(sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).scalar()
    return values is not None and "lz4" in values


def upgrade():
    if _lz4_available():
        op.execute("ALTER TABLE graph_results ALTER COLUMN svg SET COMPRESSION lz4")


def downgrade():
    if _lz4_available():  # back to the server's default_toast_compression (pglz unless configured)
        op.execute("ALTER TABLE graph_results ALTER COLUMN svg SET COMPRESSION DEFAULT")
