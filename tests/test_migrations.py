"""Migrations (migrations/, models/db.py `upgrade_database`) on SQLite and PostgreSQL: the newest revision
makes exactly the tables models/tables.py declares; a database of an earlier revision holding a cycle's
data, upgraded to the newest, keeps every report, version, mail and audit event, readable; a database made
before there were migrations is stamped, one newer than the code refused; `reportchain init` run twice says
the second time that there was nothing to do.

Today's services cannot write the data of an earlier revision (they write today's tables), so it is pinned:
tests/data/schema_REV.json holds the rows the services wrote into a database of revision REV (a small
county's roster, its cycle opened, a draft, a return by reply, mails sent and mails waiting, a reminder, a
calendar correction, a console account, and the audit events of each). Each pinned revision is loaded into
a database the migrations made up to it, then upgraded to the newest. After adding a revision, pin its data
too: `REGENERATE=1 .venv/bin/pytest tests/test_migrations.py -k pinned` writes tests/data/schema_HEAD.json
with the code of that revision; review the diff.
"""

from __future__ import annotations

import base64
import email
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from email import policy

import pytest
from sqlalchemy import MetaData, func, inspect, select, text
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from core.settings import PROJECT_ROOT
from models import db
from models.chain import DEFAULT_CHAIN, Refused, Stage
from models.db import SchemaUpgrade, get_engine, revisions, run_migrations, schema_state, upgrade_database
from models.tables import Assignment, AuditEvent, Cycle, OutboxMessage, OutboxStatus, Report, Unit
from notifications.mailbox import FolderInbox
from notifications.outbox import MAIL_SECRET
from reportchain.cli import app
from services.accounts import add_account, set_password, site_secret
from services.board import status, story
from services.calendar import set_calendar_day
from services.cycle import open_cycle
from services.delivery import deliver_all
from services.reminders import sweep
from services.replies import intake
from services.roster import import_roster
from services.stages import chain_of
from tests.conftest import settings_for
from tests.replies_kit import drop, prompt_of, reply_to, to_legal_review
from web.app import create_app

PINNED = sorted((PROJECT_ROOT / "tests" / "data").glob("schema_*.json"))
HEAD = revisions().get_current_head()
FIRST = revisions().get_base()
MODELS = {model.__table__.name: model for model in SQLModel.__subclasses__() if hasattr(model, "__table__")}
ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
ROSTER = """\
units:
- {code: qingshan, name: 青山县, kind: county, parent: '', coordinator: 吴协调 <yfzx@qingshan.example.gov.cn>}
- code: yehe
  name: 野鹤镇
  kind: township
  parent: qingshan
  approval_body: 镇党委会议
  drafter: 张伟 <zhangwei@yehe.qingshan.example.gov.cn>
  legal_advisor: 陈律师 <chen.lawyer@lvshi-a.example.cn>
  approval_contact: 刘芳 <party-yehe@qingshan.example.gov.cn>
  supervisor: 何军 <leader@yehe.qingshan.example.gov.cn>
  coordinator: 吴协调 <yfzx@qingshan.example.gov.cn>
  filing_to: [xianwei-ban@qingshan.example.gov.cn]
- code: baiyun
  name: 白云乡
  kind: township
  parent: qingshan
  drafter: 赵磊 <zhaolei@baiyun.qingshan.example.gov.cn>
  legal_advisor: 陈律师 <chen.lawyer@lvshi-a.example.cn>
  approval_contact: 孙红 <party-baiyun@qingshan.example.gov.cn>
  coordinator: 吴协调 <yfzx@qingshan.example.gov.cn>
  filing_to: [xianwei-ban@qingshan.example.gov.cn]
"""


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


# --- the pinned data of a revision ------------------------------------------------------------


def write_a_cycle(session, settings, folder) -> None:
    """What the services write in a cycle's first days, for two townships: 野鹤镇's draft is returned by
    its advisor's reply, 白云乡 has not drafted yet and is reminded."""
    roster = folder / "roster.yaml"
    roster.write_text(ROSTER, encoding="utf-8")
    import_roster(session, roster)
    set_calendar_day(session, date(2026, 12, 26), "workday", "调休上班", "yfzx@qingshan.example.gov.cn")
    open_cycle(session, settings, 2026)
    session.commit()
    yehe = session.execute(select(Report).where(Report.ref == "R-2026-001")).scalar_one()
    rnd = to_legal_review(session, settings, yehe)
    deliver_all(session, settings)  # the kickoffs and the advisor's prompt: sent, their bytes kept
    drop(settings.inbox_folder, reply_to(prompt_of(session, rnd), ADVISOR, "退回，请补充原因分析。"))
    intake(session, settings, FolderInbox(settings.inbox_folder))  # the return; its notice waits in the outbox
    sweep(session, settings, datetime(2026, 12, 21, 1, tzinfo=UTC))  # 白云乡's drafting reminder waits too
    account, person = add_account(session, "yfzx@qingshan.example.gov.cn", "county_coordinator", None, "cli")
    set_password(session, account, person, "correct horse battery", "cli")
    session.commit()
    site_secret(session, "web_session")


def dumped(url: str, tables: MetaData | None = None) -> dict[str, list[dict]]:
    """Every row of every table (of `tables`, by default the database's own), by table, as JSON: bytes in
    base64, times in ISO 8601 (with their offset when `tables` are the models', which read them as UTC)."""
    def value(v):
        if isinstance(v, bytes):
            return {"$bytes": base64.b64encode(v).decode()}
        if isinstance(v, date):  # a datetime too
            return {"$" + type(v).__name__: v.isoformat()}
        return v

    with get_engine(url).connect() as connection:
        if tables is None:
            tables = MetaData()
            tables.reflect(connection)
        return {table.name: [{key: value(v) for key, v in row._mapping.items()}
                             for row in connection.execute(select(table).order_by(*table.primary_key))]
                for table in tables.sorted_tables if table.name != "alembic_version"}


def assert_kept(before: dict[str, list[dict]], url: str) -> None:
    """Every row of `before` is still in the database, with the same values (a later revision may add columns)."""
    after = dumped(url)
    for name, rows in before.items():
        keys = [key for key in (rows[0].keys() if rows else ())  # revision 0006 renames the mails' keys (tested
                if not (name == "outboxmessage" and key == "idempotency_key")]  # in test_a_database_of_each…)
        rows = [{key: row[key] for key in keys} for row in rows]
        made = [row for row in after[name] if name == "sitesecret" and row["name"] == MAIL_SECRET
                and not any(old["name"] == MAIL_SECRET for old in rows)]  # `init` / `db upgrade` make it
        assert [{key: row[key] for key in keys} for row in after[name] if row not in made] == rows, name


def loaded(value):
    if isinstance(value, dict) and len(value) == 1:
        [(tag, text_)] = value.items()
        if tag == "$bytes":
            return base64.b64decode(text_)
        if tag in ("$datetime", "$date"):
            return (datetime if tag == "$datetime" else date).fromisoformat(text_)
    return value


def load_pinned(url: str, pinned: dict) -> None:
    """A database made by the migrations up to the pinned revision, holding its rows (as they were written)."""
    with get_engine(url).begin() as connection:
        run_migrations(connection, pinned["revision"])
        tables = MetaData()
        tables.reflect(connection)
        for table in tables.sorted_tables:
            rows = [{key: loaded(v) for key, v in row.items()} for row in pinned["tables"].get(table.name, [])]
            if rows:
                connection.execute(table.insert(), rows)
            if connection.dialect.name == "postgresql" and "id" in table.c:  # ids go on after the loaded ones
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"))


@pytest.fixture(params=PINNED, ids=lambda path: path.stem)
def pinned(request) -> dict:
    return json.loads(request.param.read_text(encoding="utf-8"))


def test_pinned_data_holds_rows_of_every_table(tmp_path, monkeypatch):
    """Each pinned revision's data has rows in every table of that revision (else an upgrade of that table
    would be tested on nothing)."""
    if os.environ.get("REGENERATE"):
        url = f"sqlite:///{tmp_path / 'pinned.db'}"
        upgrade_database(url)
        settings = settings_for(url, tmp_path, monkeypatch)
        with Session(get_engine(url), expire_on_commit=False) as session:
            write_a_cycle(session, settings, tmp_path)
        target = PROJECT_ROOT / "tests" / "data" / f"schema_{HEAD}.json"
        rows = dumped(url, SQLModel.metadata)
        target.write_text(json.dumps({"revision": HEAD, "tables": rows}, ensure_ascii=False, indent=1) + "\n",
                          encoding="utf-8")
        PINNED[:] = sorted({*PINNED, target})
    assert [path.name for path in PINNED][:1] == [f"schema_{FIRST}.json"]
    for path in PINNED:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert path.name == f"schema_{data['revision']}.json"
        empty = [name for name, rows in data["tables"].items() if not rows]
        assert empty == [], path.name
        outbox = data["tables"]["outboxmessage"]
        assert {row["status"] for row in outbox} == {OutboxStatus.SENT.value, OutboxStatus.PENDING.value}


# --- upgrading ----------------------------------------------------------------------------------


def test_the_newest_revision_makes_exactly_the_tables_the_models_declare(database_url):
    """What `alembic check` says: autogenerate finds nothing to write (tables, columns, types, nullability,
    indexes, unique constraints, foreign keys, server defaults). A model changed without a revision fails here."""
    from alembic import command

    with get_engine(database_url).connect() as connection:
        command.check(db.alembic_config(connection))  # raises AutogenerateDiffsDetected, naming each difference


def test_a_database_of_each_pinned_revision_upgrades_to_the_newest_with_its_data(empty_database_url, pinned,
                                                                                tmp_path, monkeypatch):
    url = empty_database_url
    load_pinned(url, pinned)
    settings = settings_for(url, tmp_path, monkeypatch)
    assert upgrade_database(url) == SchemaUpgrade(pinned["revision"], HEAD)

    with Session(get_engine(url), expire_on_commit=False) as session:
        for name, rows in pinned["tables"].items():  # every row, read by today's models, holds what was written
            model = MODELS[name]
            keys = [column.key for column in inspect(model).primary_key]
            found = {tuple(getattr(row, key) for key in keys): row for row in session.execute(select(model)).scalars()}
            assert len(found) == len(rows), name
            rekeyed = name == "outboxmessage" and pinned["revision"] < "0006"  # revision 0006 rewrites the keys
            for written in rows:
                row = found[tuple(written[key] for key in keys)]
                columns = [key for key in written if not (rekeyed and key == "idempotency_key")]
                assert {key: getattr(row, key) for key in columns} == {k: loaded(written[k]) for k in columns}

        units = session.execute(select(Unit)).scalars().all()  # revision 0004: who reports, closed, ended
        assert {u.code: (u.reports, u.closed_at) for u in units} == {
            "qingshan": (False, None), "yehe": (True, None), "baiyun": (True, None)}
        assert {a.ended_at for a in session.execute(select(Assignment)).scalars()} == {None}
        assert session.execute(select(Cycle.closed_at)).scalar_one() is None
        board = status(session, 2026, date(2026, 12, 1))  # what the coordinator reads
        assert [(r["ref"], r["stage"], r["returns"]) for r in board["reports"]] == [
            ("R-2026-001", Stage.DRAFTING, 1), ("R-2026-002", Stage.DRAFTING, 0)]
        yehe = session.execute(select(Report).where(Report.ref == "R-2026-001")).scalar_one()
        # revision 0003: no meeting and no acknowledgement recorded for the reports it found
        assert (yehe.meeting_body, yehe.meeting_on, yehe.meeting_minutes, yehe.acknowledged_at,
                yehe.acknowledged_by) == (None, None, None, None, None)
        assert [r["unacknowledged_days"] for r in board["reports"]] == [0, 0]
        if "chain" not in pinned["tables"]["report"][0]:  # before chains were configurable (revision 0005)
            assert (yehe.chain, session.get(Cycle, yehe.cycle_id).chains) == (None, None)  # the built-in chain,
            assert chain_of(session, yehe) == DEFAULT_CHAIN and story(session, yehe)["chain"] == DEFAULT_CHAIN  # kept
        told = story(session, yehe)
        [first] = [found["version"] for found in told["versions"]]
        assert hashlib.sha256(first.content).hexdigest() == first.sha256 and first.text.startswith("野鹤镇关于2026年度")
        assert [e.action for e in told["events"]].count("return") == 1
        assert [m.decided_via for m in told["rounds"]] == ["email"]
        events = session.execute(select(AuditEvent).where(AuditEvent.report_id == yehe.id)).scalars().all()
        assert len(told["events"]) == len(events) > 2
        sent = session.execute(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENT)).scalars()
        for mail in sent:  # the exact bytes sent, still a mail with its own Message-ID and subject
            parsed = email.message_from_bytes(mail.raw, policy=policy.default)
            assert (parsed["Message-ID"], str(parsed["Subject"])) == (mail.message_id, mail.subject)

        if pinned["revision"] < "0006":  # the mails are named by what they are, as today's services name them
            drafters = ("zhangwei@yehe.qingshan.example.gov.cn", "zhaolei@baiyun.qingshan.example.gov.cn")
            assert sorted(session.execute(select(OutboxMessage.idempotency_key)).scalars()) == sorted([
                f"kickoff:R-2026-001:{drafters[0]}", f"kickoff:R-2026-002:{drafters[1]}",
                "prompt:R-2026-001:legal_review:1", "receipt:R-2026-001:legal_review:1",
                f"returned:R-2026-001:legal_review:1:{drafters[0]}", "reminder:yfzx@qingshan.example.gov.cn:2026-12-21",
                f"reminder:{drafters[0]}:2026-12-21", f"reminder:{drafters[1]}:2026-12-21"])
        mails = session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
        # the same day's sweep and the cycle opened again, as a careless operator does after the upgrade: they
        # find what was written before it and write nothing
        again = sweep(session, settings, datetime(2026, 12, 21, 1, 30, tzinfo=UTC))
        assert (again.mails, again.already_sent) == ([], 3)
        open_cycle(session, settings, 2026)
        session.commit()
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == mails

        waiting = session.execute(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)).all()
        assert deliver_all(session, settings)["sent"] == len(waiting) > 0  # written before the upgrade, sent after
        to_legal_review(session, settings, yehe, first.text.replace("培训不足", "培训不足、考核激励不够"))
        assert status(session, 2026, date(2026, 12, 1))["reports"][0]["stage"] == Stage.LEGAL_REVIEW  # it goes on


@pytest.fixture
def later_revision(tmp_path, monkeypatch):
    """migrations/ with one more revision after the newest, `later`, whose upgrade() the test writes."""
    scripts = tmp_path / "migrations"
    shutil.copytree(PROJECT_ROOT / "migrations", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(db, "MIGRATIONS", scripts)
    db.revisions.cache_clear()
    db.known_revisions.cache_clear()

    def write(upgrade: str) -> None:
        (scripts / "versions" / "later.py").write_text(
            f'import sqlalchemy as sa\nfrom alembic import op\n\nrevision = "later"\ndown_revision = "{HEAD}"\n\n\n'
            f"def upgrade():\n{textwrap.indent(textwrap.dedent(upgrade), '    ')}", encoding="utf-8")

    yield write
    db.revisions.cache_clear()
    db.known_revisions.cache_clear()


def test_an_upgrade_that_rebuilds_a_table_keeps_every_row_and_key(empty_database_url, pinned, later_revision,
                                                                   tmp_path, monkeypatch):
    """A revision after the pinned one that rebuilds `report`, the table every other refers to (on SQLite a
    batch migration copies it and drops the old one): every row stays, every foreign key still holds, and
    `reportchain db upgrade` says from which revision to which."""
    later_revision("""
        rebuild = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
        with op.batch_alter_table("report", recreate=rebuild) as table:
            table.create_index("ix_report_publication_url", ["publication_url"])
    """)
    url = empty_database_url
    load_pinned(url, pinned)
    settings_for(url, tmp_path, monkeypatch)
    before = dumped(url)
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"数据库结构已从版本 {pinned['revision']} 升级到最新版本 later" in result.output
    assert_kept(before, url)
    with get_engine(url).connect() as connection:
        assert "ix_report_publication_url" in {i["name"] for i in inspect(connection).get_indexes("report")}
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again


def test_an_upgrade_that_fails_changes_nothing(empty_database_url, pinned, later_revision):
    later_revision("""
        op.create_table("later", sa.Column("id", sa.Integer, primary_key=True))
        op.add_column("report", sa.Column("later", sa.Integer))
        raise RuntimeError("the revision breaks here")
    """)
    url = empty_database_url
    load_pinned(url, pinned)
    with get_engine(url).connect() as connection:
        tables = db.schema_outline(connection)
    before = dumped(url)
    with pytest.raises(RuntimeError, match="the revision breaks here"):
        upgrade_database(url)
    with get_engine(url).connect() as connection:
        assert db.schema_outline(connection) == tables  # no table `later`, no column report.later
    assert dumped(url) == before
    assert schema_state(url).current == pinned["revision"]


def test_init_creates_a_database_then_says_it_is_already_current(empty_database_url, tmp_path, monkeypatch):
    settings_for(empty_database_url, tmp_path, monkeypatch)
    first = cli("init")
    assert first.exit_code == 0, first.output
    assert f"已新建数据库，结构版本 {HEAD}（最新）" in first.output
    second = cli("init")
    assert second.exit_code == 0, second.output
    assert f"数据库结构已是最新版本 {HEAD}，无需升级" in second.output
    current = cli("db", "current")
    assert (current.exit_code, current.output.strip()) == (0, f"数据库结构版本：{HEAD}（最新）。")


def test_db_current_says_a_new_database_has_no_tables_yet(empty_database_url, tmp_path, monkeypatch):
    settings_for(empty_database_url, tmp_path, monkeypatch)
    result = cli("db", "current")
    assert result.exit_code == 1
    assert "数据库中还没有数据表，请执行 reportchain init 创建。" in result.output


def test_a_database_made_before_migrations_is_stamped_with_the_first_revision(empty_database_url, tmp_path,
                                                                              monkeypatch):
    """The first revision's tables and rows with no alembic_version: what `create_all` made before there were
    migrations (the same DDL, compared by hand: SQLite's sqlite_master, PostgreSQL's pg_dump)."""
    url = empty_database_url
    load_pinned(url, json.loads(PINNED[0].read_text(encoding="utf-8")))
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
    settings_for(url, tmp_path, monkeypatch)
    before = dumped(url)
    current = cli("db", "current")
    assert current.exit_code == 1 and "建于启用结构版本管理之前，没有版本记录" in current.output
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert f"经核对其表结构与版本 {FIRST} 一致，已登记为该版本" in result.output
    assert_kept(before, url)
    assert cli("db", "current").exit_code == 0
    assert upgrade_database(url) == SchemaUpgrade(HEAD, HEAD)


def test_tables_from_before_migrations_unlike_the_first_revision_are_refused_and_left_alone(
        empty_database_url, tmp_path, monkeypatch):
    """A database from before the web console (no account or sitesecret table), and one whose report table
    lacks an index: neither is guessed at."""
    url = empty_database_url
    with get_engine(url).begin() as connection:
        run_migrations(connection, FIRST)
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql("DROP TABLE account")
        connection.exec_driver_sql("DROP TABLE sitesecret")
        connection.exec_driver_sql("DROP INDEX ix_report_stage")
    settings_for(url, tmp_path, monkeypatch)
    with get_engine(url).connect() as connection:
        tables = set(inspect(connection).get_table_names())
    result = cli("db", "upgrade")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"与第一个结构版本 {FIRST} 不一致：account、report、sitesecret" in result.output
    assert "请先备份数据库" in result.output
    with get_engine(url).connect() as connection:
        assert set(inspect(connection).get_table_names()) == tables  # nothing made, nothing stamped


def test_a_database_newer_than_the_code_is_refused_naming_both_revisions(database_url, tmp_path, monkeypatch):
    settings = settings_for(database_url, tmp_path, monkeypatch)
    with get_engine(database_url).begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0999_later'")
    try:
        for args in (["init"], ["db", "upgrade"], ["db", "current"], ["users", "list"]):
            result = cli(*args)
            assert result.exit_code == 1, (args, result.output)
            assert f"数据库的结构版本 0999_later 比本程序所知的最新版本 {HEAD} 新" in result.output, args
        with pytest.raises(Refused) as refused:
            create_app(settings)  # the console does not start
        assert refused.value.params == {"current": "0999_later", "head": HEAD}
        with get_engine(database_url).connect() as connection:
            assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0999_later"
    finally:  # the database goes back to the pool as it came
        with get_engine(database_url).begin() as connection:
            connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{HEAD}'")


BRING_UP = """
import sys, time
from pathlib import Path
import alembic.command, models.tables
from models.db import revisions, upgrade_database
revisions()  # as warm as the test's own process: the two start together
print("ready", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.005)
done = upgrade_database(sys.argv[1])
print(done.before, done.head)
"""


def test_two_processes_bringing_a_new_database_up_at_once_create_it_once(empty_database_url, tmp_path):
    """A console and a command started together: one creates the tables, the other waits and finds them."""
    go = tmp_path / "go"
    other = subprocess.Popen([sys.executable, "-c", BRING_UP, empty_database_url, str(go)], cwd=PROJECT_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert other.stdout.readline() == "ready\n"
    go.touch()
    here = upgrade_database(empty_database_url)
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    assert sorted([out.strip(), f"{here.before} {here.head}"]) == sorted([f"None {HEAD}", f"{HEAD} {HEAD}"])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a PostgreSQL setting; SQLite has none
def test_postgresql_keeps_an_outbox_rows_bytes_uncompressed(database_url):
    """Revision 0002: pglz spent ~3 ms compressing each kickoff's base64 for nothing (bench.cycle_open)."""
    with get_engine(database_url).connect() as conn:
        storage = conn.execute(text("SELECT attstorage FROM pg_attribute WHERE attrelid = 'outboxmessage'::regclass "
                                    "AND attname = 'raw'")).scalar_one()
    assert storage == "e"  # EXTERNAL


def test_revision_0006_rewrites_every_old_form_of_mail_key_into_todays():
    """Each key form the services wrote before revision 0006 (names by row id), in the form they write now."""
    import importlib.util

    path = PROJECT_ROOT / "migrations" / "versions" / "0006_stable_mail_keys.py"
    spec = importlib.util.spec_from_file_location("stable_mail_keys", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = object.__new__(module.Rows)
    rows.refs, rows.people = {1: ("R-2026-001",)}, {2: ("zhangwei@yehe.example.cn",)}
    rows.rounds, rows.versions = {7: (1, "committee_review", 2)}, {5: (1, 3)}
    rows.inbounds, rows.mails = {9: ("ab" * 32,)}, {4: ("<rc.x@qingshan.example.gov.cn>",)}
    day, who, sha = "2026-12-21", "zhangwei@yehe.example.cn", "0f" * 16
    expected = {
        "prompt:7": "prompt:R-2026-001:committee_review:2",
        "receipt:7": "receipt:R-2026-001:committee_review:2",
        f"clarify:7:{day}": f"clarify:R-2026-001:committee_review:2:{day}",
        "returned:7:2": f"returned:R-2026-001:committee_review:2:{who}",
        "ready_to_publish:7:2": f"ready_to_publish:R-2026-001:committee_review:2:{who}",
        f"already_decided:7:a@b.cn:{day}": f"already_decided:R-2026-001:committee_review:2:a@b.cn:{day}",
        "kickoff:1:2": f"kickoff:R-2026-001:{who}",
        f"reminder:2:{day}": f"reminder:{who}:{day}",
        f"reply_digest:2:{day}": f"reply_digest:{who}:{day}",
        "draft_problems:5:2": f"draft_problems:R-2026-001:v3:{who}",
        "ready_to_file:1:5:2": f"ready_to_file:R-2026-001:v3:{who}",
        "auto_filed:1:5:2": f"auto_filed:R-2026-001:v3:{who}",
        "filing:1:5": "filing:R-2026-001:v3",
        f"draft_refused:1:a@b.cn:{sha}": f"draft_refused:R-2026-001:a@b.cn:{sha}",
        "draft_received:9": "draft_received:" + "ab" * 32,
        "delivery_failed:4": "delivery_failed:<rc.x@qingshan.example.gov.cn>",
    }
    assert {old: module.new_key(old, rows) for old in expected} == expected
    # today's keys, and old ones naming rows that are gone, are left as they are
    for key in ("prompt:R-2026-001:committee_review:2", f"reminder:{who}:{day}", "prompt:99", "kickoff:1:99"):
        assert module.new_key(key, rows) is None
