"""Rewrite the generated tables of rule defaults in docs/*.md and README.md from the packaged
rule files (``cx_tasks.doc_tables``). ``--check``: only list the docs that differ (exit 1).

    .venv/bin/python docs/generate.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from cx_tasks.doc_tables import stale_docs

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]

if __name__ == "__main__":
    check = "--check" in sys.argv[1:]
    stale = stale_docs(DOCS, write=not check)
    for path in stale:
        print(f"{'differs' if check else 'rewritten'}: {path.relative_to(ROOT)}")
    sys.exit(1 if check and stale else 0)
