"""Engine, sessions and column types shared by every table (SQLite by default, PostgreSQL at scale), and
bringing a database's schema to the newest revision of migrations/."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import DateTime, event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from core.settings import PROJECT_ROOT
from models.chain import Refused


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime stored in UTC; SQLite drops offsets, so normalise both ways."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; reportchain stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def hold_transaction(session: Session) -> None:
    """Begin the session's database transaction now, so that savepoints nest in it. The SQLite driver
    begins one only before a write: a SAVEPOINT before any write would be a transaction of its own,
    committed by its RELEASE. (Immediate: the writes that follow will not wait on another writer.)"""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: safe across process crashes
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


MIGRATIONS = PROJECT_ROOT / "migrations"  # Alembic's scripts: run by path, never imported (they import models)


@dataclass(frozen=True)
class SchemaUpgrade:
    """What `upgrade_database` did: `before` is the revision the database had (None: it had no tables,
    and was created); `head` the revision it has now; `stamped`: its tables predated migrations and were
    recognised as revision `before`."""

    before: str | None
    head: str
    stamped: bool = False


def upgrade_database(url: str) -> SchemaUpgrade:
    """Bring the database to the newest revision of migrations/: create it, upgrade it, or leave it as it is.

    Refused (nothing changed): a database whose revision this code does not know (a newer reportchain
    upgraded it), and one whose tables predate migrations but are not those of the first revision."""
    state = schema_state(url)
    if state.current == state.head:  # the usual case: one read, no lock
        return SchemaUpgrade(state.head, state.head)
    with schema_transaction(url) as connection:
        return migrate(connection, state.head)


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: `current` its revision (None: none recorded), `head` the newest revision
    of migrations/, `known` False for a revision this code does not know (a newer reportchain's),
    `tables` whether the database has any table."""

    current: str | None
    head: str
    known: bool
    tables: bool


def schema_state(url: str) -> SchemaState:
    from alembic.migration import MigrationContext

    with get_engine(url).connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        tables = current is not None or bool(inspect(connection).get_table_names())
    return SchemaState(current, revisions().get_current_head(), current is None or current in known_revisions(),
                       tables)


@contextmanager
def schema_transaction(url: str) -> Iterator[Connection]:
    """The one transaction an upgrade runs in, and one upgrade at a time: a second process waits for the
    first, then finds the database current. On SQLite the DDL runs inside it too (the driver would commit
    each statement), and foreign keys are off meanwhile, checked before the commit: a batch migration
    copies a table and drops the old one, which children's keys would refuse (SQLite's ALTER TABLE
    instructions)."""
    with get_engine(url).connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('reportchain ' || current_schema()))")
                yield connection
            return
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # not inside a transaction: it would do nothing
        connection.commit()
        try:
            with connection.begin():
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise RuntimeError(f"the migration left a broken foreign key in table {broken[0]}; rolled back")
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def migrate(connection: Connection, head: str) -> SchemaUpgrade:
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(connection)
    current = context.get_current_revision()
    stamped = False
    outline = schema_outline(connection) if current is None else {}
    if set(outline) & set(first_outline()):  # tables made by create_all, before there were migrations
        first = revisions().get_base()
        differing = sorted(t for t, shape in first_outline().items() if outline.get(t) != shape)
        if differing:
            raise Refused("schema_unrecognised", first=first, tables="、".join(differing))
        context.stamp(revisions(), first)
        current, stamped = first, True
    elif current is not None and current not in known_revisions():
        raise Refused("schema_too_new", current=current, head=head)
    if current != head:
        run_migrations(connection, "head")
    return SchemaUpgrade(current, head, stamped)


def run_migrations(connection: Connection, target: str) -> None:
    """Alembic's upgrade to `target` on this connection, in its transaction (migrations/env.py)."""
    from alembic import command

    command.upgrade(alembic_config(connection), target)


def alembic_config(connection: Connection):
    """Alembic's configuration for running migrations/ on this connection (an alembic Config)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def revisions():
    """The revisions of migrations/ (an alembic ScriptDirectory)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in revisions().walk_revisions())


def schema_outline(connection: Connection) -> dict[str, tuple[frozenset, frozenset]]:
    """Each table with its columns (name, nullable) and its indexes (name, unique): what tells the
    tables of one revision from another's, the same on SQLite and PostgreSQL."""
    inspector = inspect(connection)
    return {table: (frozenset((c["name"], c["nullable"]) for c in inspector.get_columns(table)),
                    frozenset((i["name"], i["unique"]) for i in inspector.get_indexes(table)
                              if "duplicates_constraint" not in i))
            for table in inspector.get_table_names() if table != "alembic_version"}


@lru_cache(maxsize=1)
def first_outline() -> dict[str, tuple[frozenset, frozenset]]:
    """The tables of the first revision, as it makes them in an empty database in memory."""
    with create_engine("sqlite://").connect() as connection:
        run_migrations(connection, revisions().get_base())
        return schema_outline(connection)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back otherwise."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
