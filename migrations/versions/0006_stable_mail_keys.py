"""Mails keyed by what they are, not by row ids: the outbox keys of earlier revisions rewritten.

Revision ID: 0006
Revises: 0005

Since the sent journal (notifications/journal.py), an outbox key names its mail by the report's ref, the
round's stage and number, the version's number and the person's address, so that a database restored from
a backup writes the same mail under the same key. Keys written before named rows by id ("prompt:12",
"reminder:7:2026-12-21", "filing:3:5"); left so, a service looking for a mail already written (the filing
mail of a filed report, today's reminders, a round's receipt) would not find it and could write it again.
Each old key is rewritten into today's form; a key of no known old form (or one already new) is left as
it is. Message-IDs are not touched: they were random, and stay what the recipients saw.
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

N = r"(\d+)"
OLD_FORMS = [  # (pattern, new form); groups name row ids by the table they come from
    (re.compile(rf"^(prompt|receipt):{N}$"), lambda m, x: f"{m[1]}:{x.round(m[2])}"),
    (re.compile(rf"^(clarify):{N}:(\d{{4}}-\d\d-\d\d)$"), lambda m, x: f"{m[1]}:{x.round(m[2])}:{m[3]}"),
    (re.compile(rf"^(returned|ready_to_publish):{N}:{N}$"),
     lambda m, x: f"{m[1]}:{x.round(m[2])}:{x.person(m[3])}"),
    (re.compile(rf"^already_decided:{N}:(.+):(\d{{4}}-\d\d-\d\d)$"),
     lambda m, x: f"already_decided:{x.round(m[1])}:{m[2]}:{m[3]}"),
    (re.compile(rf"^kickoff:{N}:{N}$"), lambda m, x: f"kickoff:{x.ref(m[1])}:{x.person(m[2])}"),
    (re.compile(rf"^(reminder|reply_digest):{N}:(\d{{4}}-\d\d-\d\d)$"),
     lambda m, x: f"{m[1]}:{x.person(m[2])}:{m[3]}"),
    (re.compile(rf"^draft_problems:{N}:{N}$"), lambda m, x: f"draft_problems:{x.version(m[1])}:{x.person(m[2])}"),
    (re.compile(rf"^(ready_to_file|auto_filed):{N}:{N}:{N}$"),
     lambda m, x: f"{m[1]}:{x.ref(m[2])}:{x.version(m[3], with_ref=False)}:{x.person(m[4])}"),
    (re.compile(rf"^filing:{N}:{N}$"), lambda m, x: f"filing:{x.ref(m[1])}:{x.version(m[2], with_ref=False)}"),
    (re.compile(rf"^draft_refused:{N}:(.+):([0-9a-f]+)$"),
     lambda m, x: f"draft_refused:{x.ref(m[1])}:{m[2]}:{m[3]}"),
    (re.compile(rf"^draft_received:{N}$"), lambda m, x: f"draft_received:{x.inbound(m[1])}"),
    (re.compile(rf"^delivery_failed:{N}$"), lambda m, x: f"delivery_failed:{x.mail(m[1])}"),
]


class Rows:
    """The rows old keys name, read once: each lookup gives the piece of today's key (KeyError if gone)."""

    def __init__(self, bind) -> None:
        def table(query: str) -> dict:
            return {row[0]: row[1:] for row in bind.execute(sa.text(query))}

        self.refs = table("SELECT id, ref FROM report")
        self.people = table("SELECT id, email FROM person")
        self.rounds = table("SELECT id, report_id, stage, number FROM reviewround")
        self.versions = table("SELECT id, report_id, number FROM reportversion")
        self.inbounds = table("SELECT id, sha256 FROM inboundmessage")
        self.mails = table("SELECT id, message_id FROM outboxmessage")

    def ref(self, report_id: str) -> str:
        return self.refs[int(report_id)][0]

    def person(self, person_id: str) -> str:
        return self.people[int(person_id)][0]

    def round(self, round_id: str) -> str:
        report_id, stage, number = self.rounds[int(round_id)]
        return f"{self.ref(report_id)}:{stage}:{number}"

    def version(self, version_id: str, with_ref: bool = True) -> str:
        report_id, number = self.versions[int(version_id)]
        return f"{self.ref(report_id)}:v{number}" if with_ref else f"v{number}"

    def inbound(self, inbound_id: str) -> str:
        return self.inbounds[int(inbound_id)][0]

    def mail(self, outbox_id: str) -> str:
        return self.mails[int(outbox_id)][0]


def new_key(key: str, rows: Rows) -> str | None:
    """Today's form of an old key; None when the key is of no old form or names a row that is gone."""
    for pattern, form in OLD_FORMS:
        if m := pattern.match(key):
            try:
                return form(m, rows)
            except KeyError:
                return None
    return None


def upgrade() -> None:
    bind = op.get_bind()
    rows = Rows(bind)
    keys = bind.execute(sa.text("SELECT id, idempotency_key FROM outboxmessage")).all()
    taken = {key for _, key in keys}
    changes = []
    for outbox_id, key in keys:
        new = new_key(key, rows)
        if new is not None and new != key and new not in taken:
            changes.append({"id": outbox_id, "key": new})
            taken.add(new)
    if changes:
        bind.execute(sa.text("UPDATE outboxmessage SET idempotency_key = :key WHERE id = :id"), changes)
