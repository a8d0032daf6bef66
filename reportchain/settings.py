"""Settings from the environment and an optional `.env` file (every one is explained in .env.example)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP relay. TLS is explicit: `starttls` or `tls` that the server does not
    offer is an error, never a silent plaintext send."""

    host: str
    port: int
    security: str  # starttls | tls | none
    user: str
    password: str
    ca_file: str | None  # extra CA bundle, e.g. a county's own certificate authority
    timeout: float
    concurrency: int


@dataclass(frozen=True)
class ImapSettings:
    """The mailbox reviewers' replies arrive in, and what to do with a message once it is processed."""

    host: str
    port: int
    security: str  # tls | starttls | none
    user: str
    password: str
    folder: str
    ca_file: str | None
    timeout: float
    mark: str  # seen: flag as read | move: move to the folder `move_to`
    move_to: str

    @property
    def mailbox(self) -> str:
        return f"imap://{self.user}@{self.host}:{self.port}/{self.folder}"


@dataclass(frozen=True)
class DraftLimits:
    """How big a submitted draft may be. A real annual report is a few hundred paragraphs and 5–30
    thousand characters; these bounds are far above that and far below what hurts the machine."""

    max_mb: int  # the file as submitted
    max_unpacked_mb: int  # all parts of a .docx together, uncompressed
    max_ratio: int  # uncompressed / compressed size of any .docx part
    max_parts: int  # files inside a .docx
    max_elements: int  # XML elements in all parts of a .docx
    max_paragraphs: int  # paragraphs, table rows and table cells
    max_chars: int  # characters of text

    @property
    def max_mail_bytes(self) -> int:
        """A mail bigger than a draft at the limit can make (base64, and 2 MB for the rest) is not parsed."""
        return self.max_mb * 2**20 * 4 // 3 + 2 * 2**20


@dataclass(frozen=True)
class Settings:
    database_url: str
    mail_folder: Path
    mail_from: str
    mail_from_name: str
    reply_to: str
    timezone: str
    prefect_api_url: str | None
    smtp: SmtpSettings | None  # None: deliver to the mail folder
    max_attempts: int
    retry_seconds: int
    imap: ImapSettings | None  # None: read replies from the inbox folder of .eml files
    inbox_folder: Path
    deadlines_file: Path | None  # a cycle's deadline policy (examples/deadlines.yaml); None: the defaults
    authserv_id: str | None  # our receiving mail server's name in Authentication-Results; None: not checked
    drafts: DraftLimits

    @property
    def message_id_domain(self) -> str:
        return self.mail_from.rsplit("@", 1)[-1] or "localhost"


def load_settings() -> Settings:
    """Read the settings now (environment first, then `.env` in the working directory)."""
    load_dotenv(Path.cwd() / ".env", override=False)
    env = os.environ.get
    mail_from = env("REPORTCHAIN_MAIL_FROM", "fzb@county.example.gov.cn")
    return Settings(
        database_url=env("REPORTCHAIN_DATABASE_URL", "sqlite:///reportchain.db"),
        mail_folder=Path(env("REPORTCHAIN_MAIL_FOLDER", "mail/outbox")),
        mail_from=mail_from,
        mail_from_name=env("REPORTCHAIN_MAIL_FROM_NAME", "县委依法治县办"),
        reply_to=env("REPORTCHAIN_REPLY_TO", "") or mail_from,
        timezone=env("REPORTCHAIN_TIMEZONE", "Asia/Shanghai"),
        prefect_api_url=env("PREFECT_API_URL") or None,
        smtp=smtp_settings(env),
        max_attempts=int(env("REPORTCHAIN_DELIVERY_MAX_ATTEMPTS", "8")),
        retry_seconds=int(env("REPORTCHAIN_DELIVERY_RETRY_SECONDS", "60")),
        imap=imap_settings(env),
        inbox_folder=Path(env("REPORTCHAIN_INBOX_FOLDER", "mail/inbox")),
        deadlines_file=Path(env("REPORTCHAIN_DEADLINES_FILE")) if env("REPORTCHAIN_DEADLINES_FILE") else None,
        authserv_id=env("REPORTCHAIN_AUTHSERV_ID", "").strip() or None,
        drafts=draft_limits(env),
    )


def draft_limits(env) -> DraftLimits:
    return DraftLimits(
        max_mb=int(env("REPORTCHAIN_DRAFT_MAX_MB", "20")),
        max_unpacked_mb=int(env("REPORTCHAIN_DRAFT_MAX_UNPACKED_MB", "50")),
        max_ratio=int(env("REPORTCHAIN_DRAFT_MAX_RATIO", "100")),
        max_parts=int(env("REPORTCHAIN_DRAFT_MAX_PARTS", "1000")),
        max_elements=int(env("REPORTCHAIN_DRAFT_MAX_ELEMENTS", "200000")),
        max_paragraphs=int(env("REPORTCHAIN_DRAFT_MAX_PARAGRAPHS", "20000")),
        max_chars=int(env("REPORTCHAIN_DRAFT_MAX_CHARS", "1000000")),
    )


SMTP_SECURITY = {"starttls": 587, "tls": 465, "none": 25}


def smtp_settings(env) -> SmtpSettings | None:
    host = env("REPORTCHAIN_SMTP_HOST", "").strip()
    if not host:
        return None
    security = env("REPORTCHAIN_SMTP_SECURITY", "starttls").strip().lower()
    if security not in SMTP_SECURITY:
        raise ValueError(f"REPORTCHAIN_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {security!r}")
    return SmtpSettings(
        host=host,
        port=int(env("REPORTCHAIN_SMTP_PORT", "") or SMTP_SECURITY[security]),
        security=security,
        user=env("REPORTCHAIN_SMTP_USER", ""),
        password=env("REPORTCHAIN_SMTP_PASSWORD", ""),
        ca_file=env("REPORTCHAIN_SMTP_CA_FILE", "") or None,
        timeout=float(env("REPORTCHAIN_SMTP_TIMEOUT", "30")),
        concurrency=max(1, int(env("REPORTCHAIN_SMTP_CONCURRENCY", "2"))),
    )


IMAP_SECURITY = {"tls": 993, "starttls": 143, "none": 143}


def imap_settings(env) -> ImapSettings | None:
    host = env("REPORTCHAIN_IMAP_HOST", "").strip()
    if not host:
        return None
    security = env("REPORTCHAIN_IMAP_SECURITY", "tls").strip().lower()
    if security not in IMAP_SECURITY:
        raise ValueError(f"REPORTCHAIN_IMAP_SECURITY must be one of {', '.join(IMAP_SECURITY)}, not {security!r}")
    mark = env("REPORTCHAIN_IMAP_MARK", "seen").strip().lower()
    if mark not in ("seen", "move"):
        raise ValueError(f"REPORTCHAIN_IMAP_MARK must be seen or move, not {mark!r}")
    return ImapSettings(
        host=host,
        port=int(env("REPORTCHAIN_IMAP_PORT", "") or IMAP_SECURITY[security]),
        security=security,
        user=env("REPORTCHAIN_IMAP_USER", ""),
        password=env("REPORTCHAIN_IMAP_PASSWORD", ""),
        folder=env("REPORTCHAIN_IMAP_FOLDER", "INBOX"),
        ca_file=env("REPORTCHAIN_IMAP_CA_FILE", "") or None,
        timeout=float(env("REPORTCHAIN_IMAP_TIMEOUT", "60")),
        mark=mark,
        move_to=env("REPORTCHAIN_IMAP_MOVE_TO", "reportchain-processed"),
    )
