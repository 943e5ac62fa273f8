"""discovery_crawls.claimed_by: which discovery process read the input (a digest of its claim)

Revision ID: 0020_crawl_claimant
Revises: 0019_request_receipts
Create Date: 2026-12-08

The first read of a crawl's input claims it. A service whose answer to that read was lost (the app
killed after the claim's commit) asks again with the same claim and gets the input again; another
process's claim is still refused (sources/services.py, claim_crawl).
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_crawl_claimant"
down_revision = "0019_request_receipts"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("discovery_crawls", sa.Column("claimed_by", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("discovery_crawls") as batch:
        batch.drop_column("claimed_by")
