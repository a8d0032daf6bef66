"""The Jinja2 environments for every text a user reads: mails, documents, pages and CLI messages.

Escaping follows what is being written, not a file's name: a page or a mail's HTML part (a `.html`
template) is rendered by an environment that escapes every value, in the partials it imports too;
plain text (mail bodies and subjects, documents, CLI messages) by one that escapes nothing. Both are
StrictUndefined, so a missing value fails loudly instead of mailing an empty field. CLI messages are
macros in `cli/messages.j2`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.settings import PROJECT_ROOT

TEMPLATE_DIR = PROJECT_ROOT / "templates"
HEADER_BLOCKS = ("subject", "attachment_name", "calendar_summary")  # blocks that become one header line
LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")


class TextEnvironment(Environment):
    """Jinja's environment with each template's globals in one plain dict instead of a ChainMap over the
    environment's: every render copies them into its context, and a ChainMap copies slowly (a mail is
    two renders). The environment's globals are all set before the first template loads."""

    def make_globals(self, d: dict | None) -> dict:
        return {**self.globals, **(d or {})}


@lru_cache(maxsize=2)
def environment(html: bool = False) -> Environment:
    """The plain-text environment, or (`html`) the one that escapes everything it renders."""
    env = TextEnvironment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates are part of the code: no stat() of the file on every render
        cache_size=-1,  # ... and few: a plain dict keeps them all (an LRU cache reorders itself on every render)
    )
    env.filters["cn_date"] = lambda d: f"{d.year}年{d.month}月{d.day}日" if d else "—"
    env.filters["local_time"] = lambda moment, tz: moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    env.filters["stage_name"] = env.globals["stage_label"] = stage_label
    env.globals["decision_label"] = decision_label
    env.globals["message"] = message
    return env


def render(template: str, **context) -> str:
    return environment(html=template.endswith(".html")).get_template(template).render(**context)


def render_block(template: str, block: str, **context) -> str:
    """One block of a plain-text template; a header block is one line, whatever line breaks its values hold."""
    return render_blocks(template, context, only=(block,))[block]


def render_blocks(template: str, context: dict, only: tuple[str, ...] | None = None) -> dict[str, str]:
    """Every block of a plain-text template (or the `only` ones), rendered with one context."""
    tmpl = environment().get_template(template)
    ctx = tmpl.new_context(context)
    texts = {name: "".join(block(ctx)).strip() for name, block in tmpl.blocks.items() if only is None or name in only}
    return {name: LINE_BREAKS.sub(" ", text) if name in HEADER_BLOCKS else text for name, text in texts.items()}


def template_module(template: str, **context):
    """A plain-text template's top-level variables and macros, evaluated once with `context`: what each of
    a batch's mails would otherwise evaluate again by importing it `with context`."""
    return environment().get_template(template).make_module(context)


def message(key: str, /, **params) -> str:
    """A CLI/status message by key, e.g. message("refused.not_allowed_here", stage=…, event=…)."""
    macro = getattr(messages(), key.replace(".", "__"), None)
    if macro is None:
        raise KeyError(f"no message {key!r} in templates/cli/messages.j2")
    return str(macro(**params)).strip()


@lru_cache(maxsize=1)
def messages():
    """The macros of cli/messages.j2."""
    return environment().get_template("cli/messages.j2").module


def stage_label(stage: str, chain=None) -> str:
    """A stage's name as users read it: as the report's own `chain` (its stage definitions, models/chain.py)
    calls it, else the built-in name."""
    for step in chain or ():
        if step.name == stage and step.label:
            return step.label
    return built_in_stage_label(stage)


@lru_cache(maxsize=64)
def built_in_stage_label(stage: str) -> str:
    """The built-in name of a stage (every mail and page names a few: worded once per stage)."""
    return message("stage_label", stage=stage)


@lru_cache(maxsize=16)
def decision_label(decision: str) -> str:
    return message("decision_label", decision=decision)
