"""The front door for IT: `reportchain …`, thin over the services and the flows.

One module per command group (db, units, cycle, drafts, decisions, filing, report, mail, replies, triage, status,
deadlines, workcalendar, users, web, demo); every command runs inside the one error funnel of `common.py`,
which also loads the settings."""

# ruff: noqa: I001 — importing a group registers its commands, in the order `reportchain --help` lists them
from reportchain.cli import db, units, cycle, drafts, decisions, filing, report, mail, replies, triage, status  # noqa: F401,E501
from reportchain.cli import deadlines, workcalendar, users, web, demo, doctor  # noqa: F401
from reportchain.cli.common import app
from reportchain.cli.decisions import decide

__all__ = ["app", "decide"]
