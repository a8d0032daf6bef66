"""Settings from the environment and an optional `.env` file (every one is explained in .env.example),
each value checked once, when loaded: a bad one is a SettingsError naming the variable."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.names import has_control, normalised_address

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting's value cannot be used. `rule` and `allowed` say what can (worded for users by the
    message settings.bad in templates/cli/messages.j2)."""

    def __init__(self, variable: str, value: str, rule: str, **allowed) -> None:
        details = ", ".join(f"{key}: {limit}" for key, limit in allowed.items())
        super().__init__(f"{variable}={value!r} is not allowed, {rule} expected" + (f" ({details})" if details else ""))
        self.variable, self.value, self.rule, self.allowed = variable, value, rule, allowed


class Env:
    """Typed readers of the environment: each returns the variable's value, or its default when it is
    unset or empty, or raises SettingsError."""

    def __init__(self) -> None:
        self.get = os.environ.get

    def raw(self, name: str, default: str = "") -> str:
        return (self.get(name) or "").strip() or default

    def text(self, name: str, default: str = "") -> str:
        """One line of text (a name, a folder, a login): no line breaks or control characters."""
        value = self.raw(name, default)
        if has_control(value):
            raise SettingsError(name, value, "text")
        return value

    def choice(self, name: str, default: str, choices) -> str:
        value = self.raw(name, default)
        if value.lower() not in choices:
            raise SettingsError(name, value, "choice", choices=", ".join(choices))
        return value.lower()

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.raw(name, str(default))
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            raise SettingsError(name, value, "integer", low=low, **({"high": high} if high is not None else {}))
        return number

    def seconds(self, name: str, default: float) -> float:
        value = self.raw(name, str(default))
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            raise SettingsError(name, value, "seconds")
        return number

    def address(self, name: str, default: str) -> str:
        value = self.raw(name, default)
        if normalised_address(value) is None:
            raise SettingsError(name, value, "address")
        return value

    def timezone(self, name: str, default: str) -> str:
        value = self.raw(name, default)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise SettingsError(name, value, "timezone") from None
        return value

    def database_url(self, name: str, default: str) -> str:
        value = self.raw(name, default)
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise SettingsError(name, value, "database_url")
        return value

    def file(self, name: str) -> str | None:
        value = self.text(name)
        if value and not Path(value).is_file():
            raise SettingsError(name, value, "file")
        return value or None

    def port(self, name: str, default: int) -> int:
        return self.integer(name, default, 1, 65535)


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
class WebSettings:
    """The web console: its public address (in setup links), the cookie-signing secret (None: one made
    once and kept in the database), Secure cookies behind HTTPS, and which proxies may set X-Forwarded-*."""

    url: str
    secret: str | None
    secure_cookies: bool
    forwarded_allow_ips: str


@dataclass(frozen=True)
class Settings:
    database_url: str
    mail_folder: Path
    sent_journal: Path  # every mail the relay accepted, outside the database (notifications/journal.py)
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
    watch_poll: float  # `replies watch`: seconds between two reads when the mailbox cannot tell us (no IDLE)
    deadlines_file: Path | None  # a cycle's deadline policy (examples/deadlines.yaml); None: the defaults
    chains_file: Path | None  # the county's review chains (examples/chains.yaml); None: the built-in chain
    authserv_id: str | None  # our receiving mail server's name in Authentication-Results; None: not checked
    drafts: DraftLimits
    web: WebSettings

    @property
    def message_id_domain(self) -> str:
        return self.mail_from.rsplit("@", 1)[-1] or "localhost"


def load_settings() -> Settings:
    """Read and check the settings now (environment first, then `.env` in the working directory)."""
    load_dotenv(Path.cwd() / ".env", override=False)
    env = Env()
    mail_from = env.address("REPORTCHAIN_MAIL_FROM", "fzb@county.example.gov.cn")
    deadlines_file = env.text("REPORTCHAIN_DEADLINES_FILE")
    mail_folder = Path(env.text("REPORTCHAIN_MAIL_FOLDER", "mail/outbox"))
    chains_file = env.text("REPORTCHAIN_CHAINS_FILE")
    return Settings(
        database_url=env.database_url("REPORTCHAIN_DATABASE_URL", "sqlite:///reportchain.db"),
        mail_folder=mail_folder,
        sent_journal=Path(env.text("REPORTCHAIN_SENT_JOURNAL") or mail_folder.parent / "sent.journal"),
        mail_from=mail_from,
        mail_from_name=env.text("REPORTCHAIN_MAIL_FROM_NAME", "县委依法治县办"),
        reply_to=env.address("REPORTCHAIN_REPLY_TO", mail_from),
        timezone=env.timezone("REPORTCHAIN_TIMEZONE", "Asia/Shanghai"),
        prefect_api_url=env.raw("PREFECT_API_URL") or None,
        smtp=smtp_settings(env),
        max_attempts=env.integer("REPORTCHAIN_DELIVERY_MAX_ATTEMPTS", 8, low=1),
        retry_seconds=env.integer("REPORTCHAIN_DELIVERY_RETRY_SECONDS", 60, low=0),
        imap=imap_settings(env),
        inbox_folder=Path(env.text("REPORTCHAIN_INBOX_FOLDER", "mail/inbox")),
        watch_poll=env.seconds("REPORTCHAIN_WATCH_POLL_SECONDS", 20),
        deadlines_file=Path(deadlines_file) if deadlines_file else None,
        chains_file=Path(chains_file) if chains_file else None,
        authserv_id=env.text("REPORTCHAIN_AUTHSERV_ID") or None,
        drafts=draft_limits(env),
        web=web_settings(env),
    )


MIN_SECRET_CHARS = 32


def web_settings(env: Env) -> WebSettings:
    url = env.text("REPORTCHAIN_WEB_URL", "http://127.0.0.1:8000").rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SettingsError("REPORTCHAIN_WEB_URL", url, "url")
    secret = env.get("REPORTCHAIN_WEB_SECRET", "").strip()
    if secret and len(secret) < MIN_SECRET_CHARS:
        raise SettingsError("REPORTCHAIN_WEB_SECRET", "…", "secret", low=MIN_SECRET_CHARS)
    return WebSettings(
        url=url,
        secret=secret or None,
        secure_cookies=env.choice("REPORTCHAIN_WEB_SECURE_COOKIES", "false", ("true", "false")) == "true",
        forwarded_allow_ips=env.text("REPORTCHAIN_WEB_FORWARDED_ALLOW_IPS", "127.0.0.1"),
    )


def draft_limits(env: Env) -> DraftLimits:
    return DraftLimits(
        max_mb=env.integer("REPORTCHAIN_DRAFT_MAX_MB", 20, low=1),
        max_unpacked_mb=env.integer("REPORTCHAIN_DRAFT_MAX_UNPACKED_MB", 50, low=1),
        max_ratio=env.integer("REPORTCHAIN_DRAFT_MAX_RATIO", 100, low=1),
        max_parts=env.integer("REPORTCHAIN_DRAFT_MAX_PARTS", 1000, low=1),
        max_elements=env.integer("REPORTCHAIN_DRAFT_MAX_ELEMENTS", 200000, low=1),
        max_paragraphs=env.integer("REPORTCHAIN_DRAFT_MAX_PARAGRAPHS", 20000, low=1),
        max_chars=env.integer("REPORTCHAIN_DRAFT_MAX_CHARS", 1000000, low=1),
    )


SMTP_SECURITY = {"starttls": 587, "tls": 465, "none": 25}


def smtp_settings(env: Env) -> SmtpSettings | None:
    """The SMTP relay, or None (deliver to the mail folder); every value is checked even then."""
    security = env.choice("REPORTCHAIN_SMTP_SECURITY", "starttls", SMTP_SECURITY)
    smtp = SmtpSettings(
        host=env.text("REPORTCHAIN_SMTP_HOST"),
        port=env.port("REPORTCHAIN_SMTP_PORT", SMTP_SECURITY[security]),
        security=security,
        user=env.text("REPORTCHAIN_SMTP_USER"),
        password=env.get("REPORTCHAIN_SMTP_PASSWORD", ""),
        ca_file=env.file("REPORTCHAIN_SMTP_CA_FILE"),
        timeout=env.seconds("REPORTCHAIN_SMTP_TIMEOUT", 30),
        concurrency=env.integer("REPORTCHAIN_SMTP_CONCURRENCY", 2, low=1),
    )
    return smtp if smtp.host else None


IMAP_SECURITY = {"tls": 993, "starttls": 143, "none": 143}


def imap_settings(env: Env) -> ImapSettings | None:
    """The replies mailbox, or None (read the inbox folder); every value is checked even then."""
    security = env.choice("REPORTCHAIN_IMAP_SECURITY", "tls", IMAP_SECURITY)
    imap = ImapSettings(
        host=env.text("REPORTCHAIN_IMAP_HOST"),
        port=env.port("REPORTCHAIN_IMAP_PORT", IMAP_SECURITY[security]),
        security=security,
        user=env.text("REPORTCHAIN_IMAP_USER"),
        password=env.get("REPORTCHAIN_IMAP_PASSWORD", ""),
        folder=env.text("REPORTCHAIN_IMAP_FOLDER", "INBOX"),
        ca_file=env.file("REPORTCHAIN_IMAP_CA_FILE"),
        timeout=env.seconds("REPORTCHAIN_IMAP_TIMEOUT", 60),
        mark=env.choice("REPORTCHAIN_IMAP_MARK", "seen", ("seen", "move")),
        move_to=env.text("REPORTCHAIN_IMAP_MOVE_TO", "reportchain-processed"),
    )
    return imap if imap.host else None
