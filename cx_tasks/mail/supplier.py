"""Who the clients hear from: the supplier's name, the sender, the signature and the
reply-to address (``rules/supplier.yaml``), in every client e-mail and response-app page.

Client e-mails carry ``From: <sender_name> <sender_address>`` and ``Reply-To``
(``sender_headers``); templates get the name, signature and reply-to address of the
contact's language (``SupplierText``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formataddr
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cx_tasks.collect.contract import LANGUAGES
from cx_tasks.config import cached_rules, load_rules

ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


def _address(value: str) -> str:
    if not ADDRESS.match(value):
        raise ValueError(f"{value!r} is not an e-mail address (name@domain)")
    return value


def _every_language(value: dict[str, str]) -> dict[str, str]:
    missing = [language for language in LANGUAGES if not value.get(language, "").strip()]
    if missing:
        raise ValueError(f"needs a text for every language {list(LANGUAGES)}; missing {missing}")
    return value


Address = Annotated[str, AfterValidator(_address)]
PerLanguage = Annotated[dict[str, str], AfterValidator(_every_language)]


@dataclass(frozen=True)
class SupplierText:
    """What a template shows of the supplier, in one language."""

    name: str
    signature: str
    reply_to: str


class Supplier(BaseModel):
    """The supplier as its clients see it (``rules/supplier.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: PerLanguage = Field(description="the supplier's name per language")
    sender_name: PerLanguage = Field(description="the From display name per language")
    sender_address: Address = Field(description="the From address")
    reply_to: Address = Field(description="where clients' replies go")
    signature: PerLanguage = Field(description="closing lines per language")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the ledger")

    def text(self, language: str) -> SupplierText:
        """Name, signature and reply-to address in ``language`` (English if not shipped)."""
        lang = language if language in LANGUAGES else "en"
        return SupplierText(self.name[lang], self.signature[lang], self.reply_to)

    def sender_headers(self, language: str) -> dict[str, str]:
        """``From`` (display name in ``language``) and ``Reply-To`` of a client e-mail."""
        lang = language if language in LANGUAGES else "en"
        return {"From": formataddr((self.sender_name[lang], self.sender_address)),
                "Reply-To": self.reply_to}


def supplier(rules_dir: Path | None = None) -> Supplier:
    """``rules/supplier.yaml`` (the user's copy in ``rules_dir`` or CX_RULES_DIR if present)."""
    if rules_dir is None:
        return cached_rules("supplier", Supplier)
    return load_rules("supplier", Supplier, rules_dir)
