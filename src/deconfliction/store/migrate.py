"""A small migration runner: numbered SQL files, one transaction each, recorded in a table.

The SQL is portable between SQLite and PostgreSQL; the few words that differ are placeholders:
``SERIAL_PK`` (an auto-numbered primary key) and ``CLUSTERED`` (a table stored in key order).
A migration that needs the library (to fill a new index from the records, say) is a Python
module ``NNNN_name.py`` with ``migrate(cur, dialect)``, run in the same way.
"""

from __future__ import annotations

import importlib
from importlib import resources
from typing import Any, Literal

Dialect = Literal["sqlite", "postgresql"]

_WORDS: dict[Dialect, dict[str, str]] = {
    "sqlite": {"SERIAL_PK": "INTEGER PRIMARY KEY", "CLUSTERED": "WITHOUT ROWID"},
    "postgresql": {"SERIAL_PK": "BIGSERIAL PRIMARY KEY", "CLUSTERED": ""},
}


def migrations() -> list[tuple[int, str]]:
    """(number, sql) of every migration shipped with the package, in order (a Python
    migration's "sql" is ``python:MODULE``)."""
    out = []
    for f in resources.files("deconfliction.store.migrations").iterdir():
        if f.name.endswith(".sql"):
            out.append((int(f.name.split("_", 1)[0]), f.read_text(encoding="utf-8")))
        elif f.name.endswith(".py") and f.name[0].isdigit():
            out.append((int(f.name.split("_", 1)[0]), f"python:{f.name[:-3]}"))
    return sorted(out)


def render(sql: str, dialect: Dialect) -> list[str]:
    for word, repl in _WORDS[dialect].items():
        sql = sql.replace(word, repl)
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def apply(conn: Any, dialect: Dialect) -> int:
    """Apply pending migrations on a DB-API connection; returns the schema version reached."""
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    cur.execute("SELECT MAX(version) FROM schema_version")
    row = cur.fetchone()
    current = row[0] if row and row[0] is not None else 0
    for number, sql in migrations():
        if number <= current:
            continue
        if dialect == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        if sql.startswith("python:"):
            module = importlib.import_module(f"deconfliction.store.migrations.{sql[7:]}")
            module.migrate(cur, dialect)
        else:
            for stmt in render(sql, dialect):
                cur.execute(stmt)
        mark = "?" if dialect == "sqlite" else "%s"
        cur.execute(f"INSERT INTO schema_version (version) VALUES ({mark})", (number,))
        if dialect == "sqlite":
            cur.execute("COMMIT")
        else:
            conn.commit()
        current = number
    return int(current)
