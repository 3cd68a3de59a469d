"""The layering import-linter cannot see: each table's SQL is written in one module, and
importing a part of the core loads no store (the package's own ``__init__`` included).

Other modules call a table's owner (``docs/decisions/0010-layers-and-names.md``). The table
check reads the string literals of every module under ``src/deconfliction`` (migrations
excepted) and takes the name after ``FROM``, ``INTO``, ``UPDATE``, ``JOIN`` and ``TABLE`` as a
table; a table named in more than one module fails, unless it is listed in ``SHARED`` with
exactly those modules. It does not see a table whose name is put into the SQL at run time
(``f"... FROM {table}"``).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "deconfliction"
MIGRATIONS = PACKAGE / "store" / "migrations"

#: the statements are written in capitals, the tables in lower case
TABLE_AFTER = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)\b"
)

#: Tables still written in more than one module, with those modules. The list only shrinks: a
#: table that leaves it must be taken off.
SHARED: dict[str, set[str]] = {}


def tables_by_module(package: Path) -> dict[str, set[str]]:
    """The modules (paths relative to ``package``) whose string literals name each table."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(package.rglob("*.py")):
        if MIGRATIONS in path.parents:
            continue
        module = path.relative_to(package).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for table in TABLE_AFTER.findall(node.value):
                    found[table].add(module)
    return found


def test_each_table_is_written_in_one_module() -> None:
    found = tables_by_module(PACKAGE)
    # the scan sees the SQL at all (a regular expression gone wrong would pass everything)
    assert "store/journal.py" in found["audit_log"]
    assert len(found) >= 40
    shared = {t: mods for t, mods in found.items() if len(mods) > 1}
    unexpected = {t: sorted(m) for t, m in shared.items() if m != SHARED.get(t)}
    assert not unexpected, f"tables whose SQL is in more than one module: {unexpected}"
    settled = sorted(set(SHARED) - set(shared))
    assert not settled, f"now owned by one module, take them off SHARED: {settled}"


#: What importing a part of the core below the store may not load at run time (the store, the
#: API, the databases' drivers, FastAPI): import-linter reads the imports a module writes, not
#: those its package's ``__init__`` makes on the way.
STORE_AND_ABOVE = ("deconfliction.store", "deconfliction.api", "sqlite3", "psycopg", "fastapi")


@pytest.mark.parametrize("part", ["model", "geo", "engine"])
def test_importing_a_core_part_loads_no_store_and_no_driver(part: str) -> None:
    probe = (
        f"import json, sys, deconfliction.{part}; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('sqlite3', 'psycopg', 'fastapi') "
        "or m.startswith('deconfliction.'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout)
    assert f"deconfliction.{part}" in loaded  # the probe sees what it imports
    above = [m for m in loaded if m.startswith(STORE_AND_ABOVE)]
    assert not above, f"importing deconfliction.{part} loads {above}"
