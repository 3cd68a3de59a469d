"""A small migration runner: numbered migrations, one transaction each, recorded with checksums.

- A migration is ``migrations/NNNN_name.sql`` (portable SQL for SQLite and PostgreSQL; the few
  words that differ are placeholders: ``SERIAL_PK``, an auto-numbered primary key, and
  ``CLUSTERED``, a table stored in key order), or ``NNNN_name.py`` with ``migrate(cur,
  dialect)`` when it needs the library (to fill a new index from the records, say).
- Every migration not applied yet is applied, in number order, each in its own transaction with
  the row that records it (``schema_version``: its number and the SHA-256 of its text). Numbers
  need not be contiguous, and one merged later with a lower number than the newest applied is
  still applied.
- A migration already applied must not change: on every start the checksums of the applied
  migrations are compared with the shipped files, and a mismatch stops the store from opening
  (``MigrationError``), naming the migration.
- Statements are split on ``;`` outside quotes and comments.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from ..errors import DeconflictionError

Dialect = Literal["sqlite", "postgresql"]

_WORDS: dict[Dialect, dict[str, str]] = {
    "sqlite": {"SERIAL_PK": "INTEGER PRIMARY KEY", "CLUSTERED": "WITHOUT ROWID"},
    "postgresql": {"SERIAL_PK": "BIGSERIAL PRIMARY KEY", "CLUSTERED": ""},
}


class MigrationError(DeconflictionError):
    """The database's schema does not match the migrations this version ships."""

    code = "migration"
    http_status = 500


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    #: the SQL, or ``python:MODULE`` for a Python migration
    text: str
    #: SHA-256 of the file's text
    checksum: str


def migrations() -> list[Migration]:
    """Every migration shipped with the package, in number order."""
    out = []
    for f in resources.files("deconfliction.store.migrations").iterdir():
        if not f.name[:1].isdigit() or not f.name.endswith((".sql", ".py")):
            continue
        source = f.read_text(encoding="utf-8")
        number = int(f.name.split("_", 1)[0])
        text = source if f.name.endswith(".sql") else f"python:{f.name[:-3]}"
        digest = hashlib.sha256(source.encode()).hexdigest()
        out.append(Migration(number, f.name, text, digest))
    out.sort(key=lambda m: m.number)
    numbers = [m.number for m in out]
    if len(set(numbers)) != len(numbers):
        raise MigrationError("two migrations share a number")
    return out


def split(sql: str) -> list[str]:
    """The statements of a script: split on ``;`` outside quotes and ``--`` comments."""
    out: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote is not None:
            buf.append(ch)
            if ch == quote:
                if i + 1 < len(sql) and sql[i + 1] == quote:  # a doubled quote inside
                    buf.append(sql[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in ("'", '"'):
            quote = ch
            buf.append(ch)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
        else:
            buf.append(ch)
        i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out


def render(sql: str, dialect: Dialect) -> list[str]:
    for word, repl in _WORDS[dialect].items():
        sql = sql.replace(word, repl)
    return split(sql)


def _applied(cur: Any, dialect: Dialect) -> dict[int, str | None]:
    cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    cur.execute("SELECT * FROM schema_version LIMIT 0")
    columns = [d[0] for d in cur.description]
    if "checksum" not in columns:  # a schema from before checksums: they are recorded now
        cur.execute("ALTER TABLE schema_version ADD COLUMN checksum TEXT")
    cur.execute("SELECT version, checksum FROM schema_version")
    return {int(r[0]): r[1] for r in cur.fetchall()}


#: How long a process starting on an SQLite database waits for another's migrations.
MIGRATION_WAIT_S = 120.0


def apply(conn: Any, dialect: Dialect) -> int:
    """Check the applied migrations and apply the others, on a DB-API connection; returns the
    newest number applied.

    Safe when several processes start together on one new database (``serve --workers N``):
    on PostgreSQL the caller holds a session advisory lock around this; on SQLite each
    migration reads what is applied again inside its own write transaction, so it runs once
    whoever gets there first; a failed one is rolled back (and SQLite's write lock released).
    On SQLite a process waits up to ``MIGRATION_WAIT_S`` for another one's migrations (on a
    busy machine they take longer than a write's usual wait for the lock)."""
    cur = conn.cursor()
    usual_ms = None
    if dialect == "sqlite":
        usual_ms = cur.execute("PRAGMA busy_timeout").fetchone()[0]
        cur.execute(f"PRAGMA busy_timeout = {int(MIGRATION_WAIT_S * 1000)}")
    try:
        return _apply(conn, cur, dialect)
    except BaseException:
        if dialect == "sqlite":
            if conn.in_transaction:
                cur.execute("ROLLBACK")
        else:
            conn.rollback()
        raise
    finally:
        if usual_ms is not None:
            cur.execute(f"PRAGMA busy_timeout = {int(usual_ms)}")


def _apply(conn: Any, cur: Any, dialect: Dialect) -> int:
    mark = "?" if dialect == "sqlite" else "%s"
    if dialect == "sqlite":
        cur.execute("BEGIN IMMEDIATE")
    applied = _applied(cur, dialect)
    shipped = migrations()
    for m in shipped:
        if m.number not in applied:
            continue
        recorded = applied[m.number]
        if recorded is None:
            cur.execute(
                f"UPDATE schema_version SET checksum = {mark} WHERE version = {mark}",
                (m.checksum, m.number),
            )
        elif recorded != m.checksum:
            raise MigrationError(
                f"migration {m.name} was changed after it was applied to this database "
                "(its checksum differs): ship a new migration instead"
            )
    unknown = sorted(set(applied) - {m.number for m in shipped})
    if unknown:
        raise MigrationError(
            f"this database has migration {unknown[-1]} applied, which this version does not "
            "ship: it was made by a newer version"
        )
    _commit(conn, cur, dialect)
    for m in shipped:
        if m.number in applied:
            continue
        if dialect == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
            if m.number in _applied(cur, dialect):  # another process applied it meanwhile
                _commit(conn, cur, dialect)
                applied[m.number] = m.checksum
                continue
        if m.text.startswith("python:"):
            module = importlib.import_module(f"deconfliction.store.migrations.{m.text[7:]}")
            module.migrate(cur, dialect)
        else:
            for stmt in render(m.text, dialect):
                cur.execute(stmt)
        cur.execute(
            f"INSERT INTO schema_version (version, checksum) VALUES ({mark}, {mark})",
            (m.number, m.checksum),
        )
        _commit(conn, cur, dialect)
        applied[m.number] = m.checksum
    return max(applied, default=0)


def _commit(conn: Any, cur: Any, dialect: Dialect) -> None:
    if dialect == "sqlite":
        cur.execute("COMMIT")
    else:
        conn.commit()
