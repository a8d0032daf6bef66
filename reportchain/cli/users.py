"""Console accounts: `reportchain users add | list | reset` (people of the roster only)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from core.settings import load_settings
from core.texts import message
from models.db import upgrade_database
from models.tables import AccountRole
from reportchain.cli.common import app, out, session_for, shown
from services.accounts import account_of, add_account, disable_account, listing, make_setup_link, set_password

users_app = typer.Typer(help="网页控制台账号：开通、查看、重设。", no_args_is_help=True)
app.add_typer(users_app, name="users")

UNIT_HELP = "单位名称或代码（单位经办人必填；只读账号可选，含其下级单位）。"
LINK_HELP = "不在此输入密码，打印一次性设置链接（72 小时内有效）。"
ROLE_HELP = "角色：county_coordinator（县统筹协调人）| unit_clerk（单位经办人）| viewer（只读查看）。"


def accounts_session():
    """A session on the configured database, brought to the newest schema (a database made before the
    console had no accounts table)."""
    settings = load_settings()
    upgrade_database(settings.database_url)
    return session_for(settings)


def setup_link(token: str) -> str:
    return f"{load_settings().web.url}/setup/{token}"


def ask_password() -> str:
    return typer.prompt(message("users.password_prompt"), hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    who: Annotated[str, typer.Argument(help="名册中人员的姓名或邮箱。")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)],
    unit: Annotated[str | None, typer.Option(help=UNIT_HELP)] = None,
    with_link: Annotated[bool, typer.Option("--setup-link", help=LINK_HELP)] = False,
) -> None:
    """为名册中的人员开通网页控制台账号。"""
    link = with_link or not sys.stdin.isatty()
    with accounts_session() as session:
        account, person = add_account(session, who, role, unit, actor=message("cli_actor"))
        if link:
            token = make_setup_link(session, account, person, actor=message("cli_actor"))
        else:
            set_password(session, account, person, ask_password(), actor=message("cli_actor"))
        session.commit()
    out.print(message("users.added", who=shown(person.name), email=person.email, role=AccountRole(role).value))
    if link:
        out.print(message("users.setup_link", link=setup_link(token)))


@users_app.command("list")
def users_list() -> None:
    """列出全部账号。"""
    with accounts_session() as session:
        rows = listing(session)
    table = Table(title=message("users.title", count=len(rows)))
    for column in message("users.columns").split("|"):
        table.add_column(column)
    for account, person, unit in rows:
        table.add_row(shown(person.name), person.email, message("users.role", role=account.role),
                      shown(unit.name) if unit else "—",
                      message("users.state", disabled=account.disabled, locked=account.locked_until is not None,
                              ready=account.password_hash is not None))
    out.print(table)


@users_app.command("reset")
def users_reset(who: Annotated[str, typer.Argument(help="账号人员的姓名或邮箱。")]) -> None:
    """重设账号：生成新的一次性设置链接、解除锁定，并使已登录的会话失效。"""
    with accounts_session() as session:
        account, person = account_of(session, who)
        token = make_setup_link(session, account, person, actor=message("cli_actor"))
        session.commit()
    out.print(message("users.setup_link", link=setup_link(token)))


@users_app.command("disable")
def users_disable(who: Annotated[str, typer.Argument(help="账号人员的姓名或邮箱。")]) -> None:
    """停用账号：不能再登录，已登录的会话立即失效（记入流转记录；账号记录保留）。"""
    with accounts_session() as session:
        account, person = account_of(session, who)
        disable_account(session, account, person, actor=message("cli_actor"))
        session.commit()
    out.print(message("users.disabled", who=shown(person.name), email=person.email))
