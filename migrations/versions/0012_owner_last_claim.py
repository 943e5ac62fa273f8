"""users.last_claim_at: the job claim serves the owner served least recently first

Revision ID: 0012_owner_last_claim
Revises: 0011_discovery
Create Date: 2026-12-06

Job claims go round-robin across graph owners instead of first in first out. The claim orders the
claimable runs by their owner's `last_claim_at` (NULL, never served, first) and stamps it in the same
transaction, so the order costs a join on the owner's row rather than a look through every run the
owner ever had. Existing rows start at NULL: every owner is "never served" once.
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_owner_last_claim"
down_revision = "0011_discovery"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_claim_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_claim_at")
