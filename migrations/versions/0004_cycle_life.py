"""The cycle's whole life: which units report, closed units and cycles, ended roles.

Revision ID: 0004
Revises: 0003

`unit.reports`: whether the unit files a report of its own. Before, every unit but a `county` did; the
upgrade keeps that (false for the counties, true for the rest). `unit.closed_*`: a unit merged or
abolished (乡镇撤并), closed with a reason. `assignment.ended_at`: a role the roster no longer lists,
ended rather than deleted. `cycle.closed_*`: `reportchain cycle close YEAR`. Every new column is
nullable or has a default, so the rows of earlier revisions read as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unit") as unit:
        unit.add_column(sa.Column("reports", sa.Boolean(), server_default=sa.true(), nullable=False))
        unit.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        unit.add_column(sa.Column("closed_by", sa.String(length=320), nullable=True))
        unit.add_column(sa.Column("closed_reason", sa.String(length=500), nullable=True))
    op.execute(sa.text("UPDATE unit SET reports = :no WHERE kind = 'county'").bindparams(no=False))
    with op.batch_alter_table("assignment") as assignment:
        assignment.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("cycle") as cycle:
        cycle.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        cycle.add_column(sa.Column("closed_by", sa.String(length=320), nullable=True))
