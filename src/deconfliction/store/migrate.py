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


#: The PostgreSQL advisory lock that migrators take in turn (write transactions use another).
MIGRATE_LOCK = 4242


def apply(conn: Any, dialect: Dialect) -> int:
    """Apply pending migrations on a DB-API connection; returns the schema version reached.

    Safe when several processes start together on one new database (``serve --workers N``):
    on PostgreSQL they take turns under a session advisory lock (it outlives each migration's
    commit), and every migration reads the version again in its own transaction, so it runs
    once whoever gets there first."""
    cur = conn.cursor()
    if dialect == "postgresql":
        cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
    try:
        return _apply(conn, cur, dialect)
    except BaseException:
        if dialect == "sqlite":
            if conn.in_transaction:  # release SQLite's write lock for the others
                cur.execute("ROLLBACK")
        else:
            conn.rollback()
        raise
    finally:
        if dialect == "postgresql":
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))


def _version(cur: Any) -> int:
    cur.execute("SELECT MAX(version) FROM schema_version")
    row = cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _apply(conn: Any, cur: Any, dialect: Dialect) -> int:
    cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    if dialect == "postgresql":
        conn.commit()
    current = _version(cur)
    for number, sql in migrations():
        if number <= current:
            continue
        if dialect == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        current = _version(cur)  # another process may have applied it meanwhile
        if number > current:
            if sql.startswith("python:"):
                module = importlib.import_module(f"deconfliction.store.migrations.{sql[7:]}")
                module.migrate(cur, dialect)
            else:
                for stmt in render(sql, dialect):
                    cur.execute(stmt)
            mark = "?" if dialect == "sqlite" else "%s"
            cur.execute(f"INSERT INTO schema_version (version) VALUES ({mark})", (number,))
            current = number
        if dialect == "sqlite":
            cur.execute("COMMIT")
        else:
            conn.commit()
    return current
