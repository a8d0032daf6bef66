"""How Alembic reaches reportchain's database: the connection models/db.py hands over, or (the `alembic`
command line) the database of the settings, REPORTCHAIN_DATABASE_URL.

SQLite cannot ALTER most of a table: `render_as_batch` makes autogenerate write `batch_alter_table`
blocks, which copy the table on SQLite and are plain ALTERs on PostgreSQL. Revisions go forward only
(no downgrade): to go back, restore the backup taken before upgrading."""

from alembic import context
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from core.settings import load_settings
from models import tables  # noqa: F401  (registers the tables on SQLModel.metadata, for autogenerate)
from models.db import get_engine


def render_item(kind: str, obj, _context):
    """Autogenerate writes a column's type as the database holds it (`sa.DateTime(timezone=True)` for our
    UTCDateTime, `sa.String(length=64)` for SQLModel's str): a revision never imports the models it predates."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False  # Alembic's own rendering


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,
        compare_server_default=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with get_engine(load_settings().database_url).connect() as connection:
        run_migrations(connection)
