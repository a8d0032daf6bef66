"""A report records the committee meeting that approved it and the upper level's acknowledgement of its filing.

Revision ID: 0003
Revises: 0002

Five nullable columns on `report`: meeting_body, meeting_on, meeting_minutes (the meeting, read from the
approval reply or set by a coordinator) and acknowledged_at, acknowledged_by (the answer to the filing
mail). Reports of earlier revisions have none of them recorded.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report") as table:
        table.add_column(sa.Column("meeting_body", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("meeting_on", sa.Date(), nullable=True))
        table.add_column(sa.Column("meeting_minutes", sa.String(length=100), nullable=True))
        table.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("acknowledged_by", sa.String(length=320), nullable=True))
