#!/usr/bin/env python3
"""Bootstrap and run CX Loop with nothing but Python 3.11+ and pip.

    python3 dev.py demo   # create .venv, install the locked dependencies, run `cx demo`
    python3 dev.py test   # same install, then run the whole test suite
    python3 dev.py ui     # same install, then `cx ui`: the demo's Airflow with its UI
    python3 dev.py cx ... # same install, then any `cx` command

The install is the lock file (`uv.lock`) applied by uv, which pip installs first
into the project's own virtual environment, with every module compiled to bytecode
at once (otherwise each new process, every Airflow task among them, compiles what it
imports again wherever Python may not write .pyc files); it is skipped when the lock
and the sync command have not changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
UV_VERSION = "0.13.9"
STAMP = VENV / ".cx-lock-installed"
SYNC = ("sync", "--frozen", "--quiet", "--compile-bytecode")


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, env=env)


def install() -> dict[str, str]:
    """Create the venv and sync it to the lock file; return the environment to run in."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under any python3
        sys.exit(f"CX Loop needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    env = dict(os.environ, VIRTUAL_ENV=str(VENV), UV_PROJECT_ENVIRONMENT=str(VENV))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    lock = hashlib.sha256((ROOT / "uv.lock").read_bytes() + " ".join(SYNC).encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == lock:
        return env
    if not (BIN / "uv").exists():
        _run(BIN / "python", "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}", env=env)
    print(f"installing the locked dependencies (uv {' '.join(SYNC)})", flush=True)
    _run(BIN / "uv", *SYNC, env=env)
    STAMP.write_text(lock)
    return env


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "ui", "cx"}:
        print(__doc__)
        return 2
    env = install()
    command, rest = argv[0], argv[1:]
    if command in {"demo", "ui"}:
        args = [BIN / "cx", command, *rest]
    elif command == "test":
        args = [BIN / "python", "-m", "pytest", *rest]
    else:
        args = [BIN / "cx", *rest]
    return subprocess.run([str(a) for a in args], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
