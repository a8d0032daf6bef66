"""Settings from the environment and an optional `.env` file (every one is explained in .env.example)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str
    mail_folder: Path
    mail_from: str
    mail_from_name: str
    reply_to: str
    timezone: str
    prefect_api_url: str | None

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
    )
