"""The image's requirements file is the lock file, exported: the two never drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _uv() -> str | None:
    beside_python = Path(sys.executable).with_name("uv")
    return str(beside_python) if beside_python.exists() else shutil.which("uv")


def test_requirements_lock_is_the_uv_lock_exported() -> None:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (python3 dev.py test installs it)")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "--no-dev"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout

    def pins(text: str) -> list[str]:
        return [line for line in text.splitlines() if "==" in line and not line.startswith("#")]

    assert pins(exported) == pins((ROOT / "requirements.lock").read_text())
    assert any(line.startswith("apache-airflow==3.3.2") for line in pins(exported))
