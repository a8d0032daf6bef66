"""PostgreSQL for the tests and the benches: is it there, a fresh schema on it that is dropped afterwards, and
the tests' pool of schemas that are emptied and lent again (creating every table costs far more than emptying them)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from models.db import get_engine

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def reachable_postgres() -> str | None:
    """The test PostgreSQL's URL, if it answers."""
    import psycopg

    url = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        return None
    return url


@contextmanager
def postgres_schema(base: str, prefix: str = "t") -> Iterator[str]:
    """A URL on a fresh schema of `base`, dropped afterwards (used by the tests and the benches)."""
    schema = create_schema(base, prefix)
    url = schema_url(base, schema)
    try:
        yield url
    finally:
        get_engine(url).dispose()
        drop_schema(base, schema)


def create_schema(base: str, prefix: str) -> str:
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def schema_url(base: str, schema: str) -> str:
    return f"{base}?options=-csearch_path%3D{schema}"


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class SchemaPool:
    """Schemas with every table, lent to one test at a time and emptied (rows gone, ids from 1) when it
    returns; a schema a test changed so that it cannot be emptied is dropped instead. All are dropped
    at the end."""

    def __init__(self, base: str):
        self.base = base
        self.free: list[str] = []
        self.made: list[str] = []

    def __enter__(self) -> SchemaPool:
        return self

    def __exit__(self, *exc) -> None:
        for schema in self.made:
            drop_schema(self.base, schema)

    @contextmanager
    def lend(self) -> Iterator[str]:
        schema = self.free.pop() if self.free else self.new()
        url = schema_url(self.base, schema)
        try:
            yield url
        finally:
            get_engine(url).dispose()  # the test's connections, and any lock they hold
            if self.empty(schema):
                self.free.append(schema)
            else:
                self.made.remove(schema)
                drop_schema(self.base, schema)

    def new(self) -> str:
        from models.db import upgrade_database

        schema = create_schema(self.base, "p")
        self.made.append(schema)
        upgrade_database(schema_url(self.base, schema))
        return schema

    def empty(self, schema: str) -> bool:
        """Delete every row (children first) and restart every id sequence: for the few rows a test
        writes this is many times cheaper than TRUNCATE, which replaces each table's files. The schema's
        revision (alembic_version) stays."""
        import psycopg
        from sqlmodel import SQLModel

        from models.db import revisions

        ours = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        try:
            with psycopg.connect(self.base, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '10s'")  # a connection the test left open: drop it instead
                found = conn.execute("SELECT array(SELECT tablename FROM pg_tables WHERE schemaname = %s), "
                                     "array(SELECT sequencename FROM pg_sequences WHERE schemaname = %s), "
                                     f'array(SELECT version_num FROM "{schema}".alembic_version)',
                                     (schema, schema)).fetchone()
                if set(found[0]) != {*ours, "alembic_version"} or found[2] != [revisions().get_current_head()]:
                    return False  # the test changed the schema itself
                conn.execute("BEGIN; " + "".join(f'DELETE FROM "{schema}"."{n}"; ' for n in ours)
                             + "".join(f'ALTER SEQUENCE "{schema}"."{n}" RESTART; ' for n in found[1]) + "COMMIT")
            return True
        except psycopg.Error:
            return False
