"""Instructions per write, counted by valgrind: a figure that does not drift with the machine.

    python bench/instructions.py strategic            # a checked Store.create
    python bench/instructions.py dss                  # a DSS cycle: query, create, delete
    python bench/instructions.py dss --src BEFORE/src # another version's code

Runs the scene twice under ``valgrind --tool=callgrind`` (every thread, start-up included), with
``--small`` and ``--large`` units of work, and prints the difference divided by the units
between: start-up, imports and the store's setup cancel out. The store's background
checkpointer is left off and the writer checkpoints at its own threshold instead (as when the
checkpointer has no connection), and OpenBLAS runs no worker threads: both wake on a clock, so
what they do would vary with valgrind's speed and give a different count each run.
``strategic``: checked writes from one thread into a store of 2,000 intents (the strategic
bench's shapes, a fixed seed); ``dss``: the congested cell's cycle (``dss_congested.py``) called
below HTTP, with the service's hooks, after a USS of its own left one intent there. Slow:
valgrind runs Python about 50 times slower.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _no_checkpointer() -> None:
    """Checkpoints by the writer alone, at a fixed number of pages (see the module)."""
    from deconfliction.store import sqlite

    sqlite.SqliteStore._run_checkpointer = lambda self: None  # type: ignore[method-assign]


def strategic_scene(n: int) -> None:
    _no_checkpointer()
    sys.path.insert(0, str(HERE))
    import strategic

    from deconfliction.store.sqlite import SqliteStore

    folder = tempfile.mkdtemp(prefix="bench-instr-")
    store = SqliteStore(os.path.join(folder, "s.db"))
    try:
        strategic.add_parties(store)
        rng = random.Random(7)
        drafts = [strategic.random_draft(rng) for _ in range(2000 + n)]
        strategic.fill_bulk(store, drafts[:2000], 0)
        strategic.fill(store, drafts[2000:], 2000, 1)
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def dss_scene(n: int) -> None:
    _no_checkpointer()
    sys.path.insert(0, str(HERE))
    import dss_congested as cell

    from deconfliction import exchange
    from deconfliction.api.dss import _area, _put_oir, _render
    from deconfliction.dss import install
    from deconfliction.dss.scd import Caller, Scd
    from deconfliction.store.sqlite import SqliteStore

    folder = tempfile.mkdtemp(prefix="bench-instr-")
    store = SqliteStore(os.path.join(folder, "s.db"))
    exchange.install(store.hooks)
    install(store.hooks)
    board: dict[str, str] = {}

    def run(fn: Any, write: bool = True) -> Any:
        def answer(tx: Any) -> bytes:
            return _render(fn(Scd(tx, datetime.now(UTC), "http://localhost")))

        return json.loads((store.write_tx if write else store.read_tx)(answer))

    def loop(me: str, cycles: int) -> None:
        caller = Caller(me, frozenset({cell.SC}))
        previous: tuple[str, str] | None = None
        for _ in range(cycles):
            ext = _area({"area_of_interest": cell._volume()})
            found = run(
                lambda scd, e=ext: {"operational_intent_references": scd.query("oir", e, me)}, False
            )
            refs = found["operational_intent_references"]
            keys = [r["ovn"] if r["manager"] == me else board.get(r["id"]) for r in refs]
            oid = str(uuid.uuid4())
            body = {"extents": [cell._volume()], "key": [k for k in keys if k], "state": "Accepted"}
            body["uss_base_url"] = "https://uss.example"
            ovn = run(_put_oir(oid, None)(caller, body))["operational_intent_reference"]["ovn"]
            board[oid] = ovn
            if previous is not None:
                gone = previous
                run(lambda scd, g=gone: scd.delete_oir(caller, g[0], g[1]))
            previous = (oid, ovn)

    try:
        loop("warmup", 50)
        loop("uss0", n)
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


SCENES = {"strategic": strategic_scene, "dss": dss_scene}


def count(scene: str, n: int, src: str | None) -> int:
    # one BLAS thread: OpenBLAS's idle worker threads poll on a clock, so what they count
    # varied with valgrind's speed (6 M instructions between two runs of one scene)
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    cmd += [__file__, "--run", scene, str(n)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", res.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no count:\n{res.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--run":
        SCENES[sys.argv[2]](int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("scene", choices=sorted(SCENES))
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--large", type=int, default=400)
    ap.add_argument("--src", help="a source folder to run instead of the installed package")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    small = count(args.scene, args.small, args.src)
    large = count(args.scene, args.large, args.src)
    unit = "write" if args.scene == "strategic" else "cycle"
    per = (large - small) / (args.large - args.small)
    print(f"{args.scene}: {per / 1e6:.3f} M instructions a {unit}  ({args.src or 'installed'})")


if __name__ == "__main__":
    main()
