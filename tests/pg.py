"""PostgreSQL for the tests and the benches: is it there, and a fresh schema on it that is dropped afterwards."""

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
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        get_engine(url).dispose()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
