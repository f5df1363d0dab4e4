"""Rendering e-mails from the Jinja2 templates in ``cx_tasks/mail/templates/<language>/``.

A message ``NAME`` is two templates: ``NAME.txt.j2`` (the plain text, which also sets
the subject with ``{% set subject = ... %}``) and, optionally, ``NAME.html.j2`` (the
HTML alternative, autoescaped). A language without its own copy falls back to English.
Undefined variables are errors, so a template and its caller cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound

FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class RenderedMail:
    """A rendered message: subject, plain text and (optionally) HTML."""

    subject: str
    text: str
    html: str | None


@cache
def template_environment() -> Environment:
    """The Jinja2 environment over the packaged templates (HTML autoescaped)."""
    return Environment(
        loader=PackageLoader("cx_tasks.mail", "templates"),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_mail(name: str, language: str, context: Mapping[str, Any]) -> RenderedMail:
    """Message ``name`` rendered in ``language`` (English if not translated) with ``context``."""
    env = template_environment()
    languages = dict.fromkeys((language, FALLBACK_LANGUAGE))
    text_template = env.select_template([f"{lang}/{name}.txt.j2" for lang in languages])
    module = text_template.make_module(dict(context))
    subject = " ".join(str(getattr(module, "subject", "")).split())
    if not subject:
        raise ValueError(f"template {text_template.name} sets no subject")
    try:
        html_template = env.select_template([f"{lang}/{name}.html.j2" for lang in languages])
    except TemplateNotFound:
        html = None
    else:
        html = html_template.render(dict(context))
    return RenderedMail(subject=subject, text=str(module), html=html)
