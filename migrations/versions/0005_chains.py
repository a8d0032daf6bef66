"""A cycle keeps the chains it was opened with, and a report the chain it started on.

Revision ID: 0005
Revises: 0004

`cycle.chains`: the county's chains and which units use them (models.chain.ChainSet as JSON), read from
the chain file when the cycle opened; `report.chain`: the name of the report's chain in it. Both are
empty for a cycle opened before: its reports go on with the built-in default chain, as they started.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cycle", sa.Column("chains", sa.JSON(), nullable=True))
    op.add_column("report", sa.Column("chain", sa.String(length=64), nullable=True))
