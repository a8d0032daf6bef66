"""The one Jinja2 environment for every text a user reads: mails, documents and CLI messages.

Templates live in `templates/`; `.html` is autoescaped, everything is StrictUndefined, so a missing
value fails loudly instead of mailing an empty field. CLI messages are macros in `cli/messages.j2`.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from reportchain.settings import PROJECT_ROOT

TEMPLATE_DIR = PROJECT_ROOT / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cn_date"] = lambda d: f"{d.year}年{d.month}月{d.day}日" if d else "—"
    env.globals["stage_label"] = lambda stage: message("stage_label", stage=stage)
    env.globals["decision_label"] = lambda decision: message("decision_label", decision=decision)
    env.globals["message"] = message
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def render_block(template: str, block: str, **context) -> str:
    tmpl = environment().get_template(template)
    return "".join(tmpl.blocks[block](tmpl.new_context(context))).strip()


def message(key: str, /, **params) -> str:
    """A CLI/status message by key, e.g. message("refused.not_allowed_here", stage=…, event=…)."""
    module = environment().get_template("cli/messages.j2").module
    macro = getattr(module, key.replace(".", "__"), None)
    if macro is None:
        raise KeyError(f"no message {key!r} in templates/cli/messages.j2")
    return str(macro(**params)).strip()
