"""Who receives CX Loop's internal e-mails (cheap to import: DAG files read it at parse time)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

DEFAULT_ALERT_RECIPIENTS = ("data-engineers@example.com",)


def alert_recipients(environ: Mapping[str, str] | None = None) -> list[str]:
    """The data engineers' addresses: ``CX_ALERT_EMAILS`` split on commas, semicolons or
    spaces; ``data-engineers@example.com`` when unset."""
    env = os.environ if environ is None else environ
    addresses = [a for a in re.split(r"[,;\s]+", env.get("CX_ALERT_EMAILS", "")) if a]
    return addresses or list(DEFAULT_ALERT_RECIPIENTS)
