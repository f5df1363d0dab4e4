"""Settings: where the data folder is, which databases to use, and the rule tables.

Everything is chosen by environment (or, under Airflow, by connections that the
plugins turn into the same URLs): the embedded default is a SQLite warehouse and a
SQLite simulated supplier under one data folder; production points the URLs at
PostgreSQL and the supplier's systems without a code change.

=====================  =========================================  ==========================
variable               meaning                                    default
=====================  =========================================  ==========================
CX_DATA_DIR            the data folder                            ``data/`` of the project
                                                                  (``./data`` when installed
                                                                  outside a checkout)
CX_WAREHOUSE_URL       SQLAlchemy URL of the warehouse            ``sqlite:///DATA/warehouse.db``
CX_SOURCE_URL          SQLAlchemy URL of the supplier's systems   ``sqlite:///DATA/supplier.db``
CX_RULES_DIR           folder of YAML files overriding the rules  (the packaged defaults)
CX_SURVEY_SECRET       HMAC key of survey and unsubscribe links   ``DATA/survey_secret`` (made
                                                                  once, mode 0600)
CX_SURVEY_BASE_URL     public address of the response app         ``http://127.0.0.1:8765``
=====================  =========================================  ==========================
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Settings:
    """Resolved locations of the data folder and the databases."""

    data_dir: Path
    warehouse_url: str
    source_url: str
    rules_dir: Path | None
    survey_base_url: str = "http://127.0.0.1:8765"
    survey_secret_text: str | None = None

    @cached_property
    def survey_secret(self) -> bytes:
        """The HMAC key of survey links: ``CX_SURVEY_SECRET``, else a random key made once
        in the data folder (readable by its owner only); read once per settings."""
        if self.survey_secret_text:
            return self.survey_secret_text.encode("utf-8")
        path = self.data_dir / "survey_secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text(encoding="utf-8").strip().encode("utf-8")

    @property
    def ground_truth_path(self) -> Path:
        """The simulator's answer key; the pipeline never reads it."""
        return self.data_dir / "ground_truth.db"

    @property
    def quality_dir(self) -> Path:
        """Where Great Expectations results are written for the engineers to open."""
        return self.data_dir / "quality"

    @property
    def landing_dir(self) -> Path:
        """Where each interval's raw extracts land before validation."""
        return self.data_dir / "landing"

    @property
    def charts_dir(self) -> Path:
        """Where the analyze stage draws its charts (Pareto) for the digests."""
        return self.data_dir / "charts"

    @property
    def mail_dir(self) -> Path:
        """Where the demo's local SMTP server stores every received message."""
        return self.data_dir / "mail"


def project_dir() -> Path | None:
    """The source checkout ``cx_tasks`` runs from (``pyproject.toml`` beside the package),
    or None when it is installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def default_data_dir() -> Path:
    """The data folder when ``CX_DATA_DIR`` is not set: the project's ``data/``, so ``cx``
    finds the demo's data from any directory; ``./data`` outside a checkout."""
    project = project_dir()
    return (project if project is not None else Path.cwd()) / "data"


def settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from the environment (``os.environ`` unless given)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("CX_DATA_DIR") or default_data_dir()).resolve()
    rules_dir = env.get("CX_RULES_DIR")
    return Settings(
        data_dir=data_dir,
        warehouse_url=env.get("CX_WAREHOUSE_URL", f"sqlite:///{data_dir / 'warehouse.db'}"),
        source_url=env.get("CX_SOURCE_URL", f"sqlite:///{data_dir / 'supplier.db'}"),
        rules_dir=Path(rules_dir) if rules_dir else None,
        survey_base_url=env.get("CX_SURVEY_BASE_URL", "http://127.0.0.1:8765").rstrip("/"),
        survey_secret_text=env.get("CX_SURVEY_SECRET") or None,
    )


def rules_text(name: str, rules_dir: Path | None = None) -> str:
    """The YAML text of rule table ``name``: the user's copy if present, else the default."""
    folder = rules_dir if rules_dir is not None else settings().rules_dir
    if folder is not None and (folder / f"{name}.yaml").exists():
        return (folder / f"{name}.yaml").read_text(encoding="utf-8")
    return resources.files("cx_tasks.rules").joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def parse_yaml(text: str) -> Any:
    """YAML text as Python data, safely (libyaml's C parser when PyYAML was built with it:
    the same result, several times faster on the large rule tables)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_rules(name: str, model: type[M], rules_dir: Path | None = None) -> M:
    """Rule table ``name`` parsed and validated against ``model`` (raises on a bad file)."""
    return model.model_validate(parse_yaml(rules_text(name, rules_dir)))


@cache
def cached_rules(name: str, model: type[M]) -> M:
    """``load_rules`` with the default folder, read once per process."""
    return load_rules(name, model)


def _distinct_day_counts(windows: tuple[int, ...]) -> tuple[int, ...]:
    if not windows or any(w < 1 for w in windows) or len(set(windows)) != len(windows):
        raise ValueError("must be distinct positive day counts")
    return tuple(sorted(windows))


DayWindows = Annotated[tuple[int, ...], AfterValidator(_distinct_day_counts)]
"""Trailing windows of a rule table, in days: distinct, positive, read in ascending order."""
