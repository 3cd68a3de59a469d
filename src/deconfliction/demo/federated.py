"""The demo as two federated nodes: France's on one port, Russia's on the next, each with its own
data folder, peered with each other; France's admin proposes the demo agreement at France's
node, Russia's admin accepts it at Russia's; each map then shows the other's releases.

``python -m deconfliction.demo.federated [--port 8000] [--data-dir data/federated] [--check]``
(``scripts/demo --federated``). With ``--check`` it stops once each node shows the other's
releases and a conflict between them (exit 0), or after a minute without (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..auth import PARTY_ADMIN_SCOPE, dev_private_key, mint_token
from ..federation import NodeKey, peers
from ..store import open_store
from . import DEMO_TERMS

NODES = (("fr", "FR", "France"), ("ru", "RU", "Russia"))


def _call(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"null")


def _wait(what: str, fn: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            out = fn()
        except (OSError, ValueError):
            out = None
        if out:
            return out
        time.sleep(0.2)
    raise TimeoutError(f"no {what} within {timeout_s:g} s")


def _peer(root: Path, port: int) -> None:
    """Each node knows the other: its URL, its key, the party it hosts (once)."""
    keys = {name: NodeKey.in_folder(root / name) for name, _, _ in NODES}
    now = datetime.now(UTC)
    for name, _, _ in NODES:
        store = open_store(f"sqlite:///{root / name / 'deconfliction.db'}")
        try:
            for j, (other, party, pname) in enumerate(NODES):
                if other == name:
                    continue
                url = f"http://127.0.0.1:{port + j}"

                def add(tx: Any, other: str = other, url: str = url, party: str = party,
                        pname: str = pname, own: str = keys[name].key_id) -> None:  # fmt: skip
                    if peers.get(tx, other) is None:
                        peers.add(tx, other, url, keys[other].public_pem, [(party, pname)],
                                  own, "demo", now)  # fmt: skip

                store.write_tx(add)
        finally:
            store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deconfliction-demo-federated")
    parser.add_argument("--port", type=int, default=8000, help="France's port; Russia's: +1")
    parser.add_argument("--data-dir", type=Path, default=Path("data/federated"))
    parser.add_argument("--check", action="store_true", help="stop once both maps show it")
    args = parser.parse_args(argv)
    root: Path = args.data_dir
    _peer(root, args.port)
    procs = []
    urls = {}
    tokens = {}
    try:
        for i, (name, party, _) in enumerate(NODES):
            port = args.port + i
            urls[party] = f"http://127.0.0.1:{port}"
            tokens[party] = mint_token(
                dev_private_key(root / name), party, scopes=[PARTY_ADMIN_SCOPE]
            )
            cmd = [sys.executable, "-m", "deconfliction", "serve", "--port", str(port),
                   "--data-dir", str(root / name), "--demo-party", party,
                   "--peer-ping-s", "2"]  # fmt: skip
            out = None if not args.check else subprocess.DEVNULL
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True))
        for party, url in urls.items():
            _wait(
                f"answer from {party}'s node", lambda u=url: _call(u + "/v1/health", "")[0] == 200
            )
        fr, ru = urls["FR"], urls["RU"]
        status, current = _call(fr + "/v1/agreements", tokens["FR"])
        if not any(a["status"] == "active" for a in current.get("agreements", [])):
            status, done = _call(fr + "/v1/agreements/RU", tokens["FR"], "PUT",
                                 DEMO_TERMS.model_dump(mode="json"))  # fmt: skip
            if status != 201:
                raise SystemExit(f"the proposal was refused: {done}")
            version = done["version"]

            def arrived() -> bool:
                rows = _call(ru + "/v1/agreements", tokens["RU"])[1]["agreements"]
                return any(a["version"] == version for a in rows)

            _wait("proposal at Russia's node", arrived)
            status, done = _call(
                f"{ru}/v1/agreements/FR/versions/{version}/accept", tokens["RU"], "POST"
            )
            if status != 200:
                raise SystemExit(f"the acceptance was refused: {done}")

        def shows(party: str, other: str) -> bool:
            pic = _call(urls[party] + "/v1/picture", tokens[party])[1]
            theirs = [r for r in pic["records"] if r["record"]["owner"] == other]
            return bool(theirs) and bool(pic["conflicts"])

        _wait("each map showing the other's releases",
              lambda: shows("FR", "RU") and shows("RU", "FR"), 90.0)  # fmt: skip
        print("deconfliction: the demo as two federated nodes")
        for party, url in urls.items():
            print(f"  {party}'s node: {url}/ui/  (demo login: pick {party})")
        if args.check:
            return 0
        print("  Ctrl-C stops both nodes", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        return 1
    except TimeoutError as exc:
        print(f"deconfliction: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
