"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when reachable), settings
pointing at it and at a temporary mail folder, the sample county, and one Prefect test server."""

from __future__ import annotations

import atexit
import copy
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

# Prefect reads its settings when first imported: keep it in a temporary home, quiet and offline.
_PREFECT_HOME = tempfile.mkdtemp(prefix="reportchain-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)
# The CLI's consoles read their width when first imported: wide, so that no message is wrapped (also in
# pytest-xdist's workers, which have no terminal).
os.environ["COLUMNS"] = "250"

import pytest  # noqa: E402
import typer.testing  # noqa: E402

# typer's CliRunner builds the whole click command tree from the app on every invoke (about a third of a short
# CLI test's time here): build it once per app. The app is complete once imported; each invoke still gets a
# fresh context, streams and environment.
typer.testing._get_command = functools.cache(typer.testing._get_command)
from sqlmodel import Session, select  # noqa: E402

from core.settings import PROJECT_ROOT, Settings, load_settings  # noqa: E402
from models.db import get_engine, upgrade_database  # noqa: E402
from models.tables import Report, Unit  # noqa: E402
from services.roster import RosterPlan, apply_roster, plan_roster  # noqa: E402
from tests.pg import PG_DEFAULT, SchemaPool, postgres_schema, reachable_postgres  # noqa: E402

SAMPLE_ROSTER = PROJECT_ROOT / "examples" / "sample_county.yaml"
SEEDS = PROJECT_ROOT.parent / "shared" / "seeds"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """An empty database with every table, made once per test process: each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "reportchain.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    get_engine(url).dispose()  # checkpoints the WAL: the file alone is the whole database
    return path


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[SchemaPool | None]:
    """This test process's PostgreSQL schemas, each emptied before it is lent again (None: not reachable)."""
    base = reachable_postgres()
    if base is None:
        yield None
        return
    with SchemaPool(base) as pool:
        yield pool


# A test of one database's own behaviour takes only that one of `database_url`'s parameters.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, sqlite_template):
    """A database with every table created, empty; on PostgreSQL a schema lent to this test alone."""
    if request.param == "sqlite":
        path = tmp_path / "reportchain.db"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite:///{path}"
        yield url
        get_engine(url).dispose()
        return
    with postgres_pool(request).lend() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """A database without any table (for the migrations to make); on PostgreSQL a new schema, dropped after."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        yield url
        get_engine(url).dispose()
        return
    with postgres_schema(postgres_pool(request).base, "m") as url:
        yield url


def postgres_pool(request) -> SchemaPool:
    """This test process's pool of PostgreSQL schemas; the test is skipped (failed in CI) without PostgreSQL."""
    pool = request.getfixturevalue("postgres_schemas")
    if pool is None:
        reason = (f"PostgreSQL is not reachable at {os.environ.get('TEST_DATABASE_URL', PG_DEFAULT)}: "
                  "start it or set TEST_DATABASE_URL to run the PostgreSQL half of the suite")
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI must run these tests)")
        pytest.skip(reason)
    return pool


@pytest.fixture
def settings(database_url, tmp_path, monkeypatch) -> Settings:
    """Settings as the flows and the CLI read them: this test's database and mail folder."""
    return settings_for(database_url, tmp_path, monkeypatch)


def settings_for(database_url: str, tmp_path: Path, monkeypatch) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("REPORTCHAIN_DATABASE_URL", database_url)
    monkeypatch.setenv("REPORTCHAIN_MAIL_FOLDER", str(tmp_path / "mail"))
    monkeypatch.setenv("REPORTCHAIN_INBOX_FOLDER", str(tmp_path / "inbox"))
    for name in ("HOST", "PORT", "SECURITY", "USER", "PASSWORD", "FOLDER", "MARK", "MOVE_TO"):
        monkeypatch.delenv(f"REPORTCHAIN_IMAP_{name}", raising=False)
    monkeypatch.setenv("REPORTCHAIN_MAIL_FROM", "fzb@qingshan.example.gov.cn")
    monkeypatch.setenv("REPORTCHAIN_MAIL_FROM_NAME", "青山县委依法治县办")
    monkeypatch.delenv("REPORTCHAIN_REPLY_TO", raising=False)
    return load_settings()


@pytest.fixture
def session(settings):
    with Session(get_engine(settings.database_url), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def county(session) -> dict[str, Unit]:
    """The sample county (examples/sample_county.yaml) imported and committed; units by code. The import's
    plan (the file read and validated, which is most of its cost) is worked out once per test process: on the
    empty database every test starts from it is always the same. tests/test_roster.py imports files itself."""
    global _county_plan
    if _county_plan is None:
        _county_plan = plan_roster(session, SAMPLE_ROSTER)
    apply_roster(session, copy.deepcopy(_county_plan))
    session.commit()
    return {u.code: u for u in session.exec(select(Unit))}


_county_plan: RosterPlan | None = None


@pytest.fixture
def yehe(session, settings, county):
    """野鹤镇's report waiting for its legal advisor: (report, open round, the prompt that was sent)."""
    from services.cycle import open_cycle
    from tests.replies_kit import prompt_of, to_legal_review

    open_cycle(session, settings, 2026)
    session.commit()
    report = report_of(session, county["yehe"])
    rnd = to_legal_review(session, settings, report)
    return report, rnd, prompt_of(session, rnd)


def report_of(session: Session, unit: Unit) -> Report:
    return session.exec(select(Report).where(Report.unit_id == unit.id)).one()


def write_draft(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def in_the_2026_cycle(monkeypatch):
    """The suite's reports are of 2026: run every test on a day of that cycle, whenever it runs (`cycle
    open` refuses a year already past without --confirm-year)."""
    monkeypatch.setattr("services.cycle.today_in", lambda timezone: date(2026, 12, 1))


# The slowest files first (serial seconds by --durations=0 on this 2-core machine: workers 46, demo 45, operators
# 48, replies_imap 28, …). `make test` deals out whole files (--dist loadfile, see the Makefile), each to the
# first xdist worker that is free, so a long file never starts last and leaves the other worker idle. Files not
# listed keep their order after these.
SLOWEST_FILES_FIRST = [
    "tests/test_workers.py", "tests/test_demo.py", "tests/test_operators.py", "tests/test_replies_imap.py",
    "tests/test_replies_watch.py", "tests/test_smtp_delivery.py", "tests/test_deployments.py", "tests/test_cli.py",
    "tests/web/test_browser.py", "tests/test_migrations.py", "tests/test_board_artifact.py",
    "tests/test_meeting_ack.py", "tests/security/test_errors.py", "tests/test_reminders_cli.py",
    "tests/test_ready_to_file.py", "tests/security/test_hostile_files.py", "tests/test_flows.py",
    "tests/security/test_repeated_commands.py", "tests/test_replies_intake.py",
]
# The files with tests on the session's Prefect test server (`prefect_server` below): under --dist loadfile they
# go to one worker together, which alone starts that server (about 10 s each time).
PREFECT_HARNESS_FILES = ("tests/test_operators.py", "tests/test_replies_imap.py", "tests/test_board_artifact.py",
                         "tests/test_flows.py", "tests/test_reminders.py")


def pytest_collection_modifyitems(items) -> None:
    rank = {path: i for i, path in enumerate(SLOWEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: each file in its order


@pytest.hookimpl(optionalhook=True)  # pytest -p no:xdist knows no such hook
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with the PREFECT_HARNESS_FILES as one unit (dealt out where the first of them stands)."""
    if config.getvalue("dist") != "loadfile":
        return None  # xdist's own scheduler
    from xdist.scheduler import LoadFileScheduling

    class OnePrefectHarness(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "prefect harness" if scope in PREFECT_HARNESS_FILES else scope

    return OnePrefectHarness(config, log)


@pytest.fixture(scope="session")
def prefect_server():
    """One real Prefect server for the whole session (started on first use, ~16 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
from tests.imap_server import dovecot  # noqa: E402,F401  (fixture: a real Dovecot per test)
