"""``deconfliction screen``: blind screening of plan files against another party's plans held by
a service, without the plans leaving this machine (see docs/screening.md).

The service's answer is the list of places (S2 cell, time slot, altitude band, on the grain
the agreement sets) where these plans and the other party's may meet; the service, and the
other party, learn those places too, and each side the size of the other's token set.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..formats.plans import PlanError, load_plans
from ..screening import Session, SessionParams
from ..screening.tokens import window
from . import UsageError


class _Peer:
    def __init__(self, url: str, token: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--peer must be an http:// or https:// URL, got {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.bytes_sent = 0
        self.bytes_received = 0

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body, separators=(",", ":")).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("detail", detail)
            raise UsageError(f"--peer: HTTP {exc.code}: {detail}") from None
        except OSError as exc:
            raise UsageError(f"--peer: cannot reach {self.url}: {exc}") from None
        self.bytes_sent += len(data)
        self.bytes_received += len(raw)
        out: dict[str, Any] = json.loads(raw)
        return out


def _iso(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if hasattr(v, "isoformat") else v


def run_screen(
    files: list[Path], peer_url: str, token: str, with_party: str, *, as_json: bool
) -> int:
    try:
        records = load_plans(files)
    except PlanError as exc:
        print(f"deconfliction screen: {exc}", file=sys.stderr)
        return 2
    plans = {r.id: list(r.volumes) for r in records}
    peer = _Peer(peer_url, token)
    started = time.perf_counter()
    opened = peer.post("/v1/screening/sessions", {"with": with_party})
    params = SessionParams.from_json(opened["params"])
    session, opening = Session.initiate(params, plans)
    path = f"/v1/screening/sessions/{opened['id']}/messages"
    msgs: list[dict[str, Any]] = [opening]
    sizes: list[int] = []
    while msgs:
        answer = peer.post(path, {"messages": msgs})
        sizes = answer.get("sizes", sizes)
        msgs = session.receive(answer["messages"]) if answer["messages"] else []
    elapsed = time.perf_counter() - started
    grain = params.grains[-1]
    found = [
        {
            **{k: _iso(v) for k, v in window(grain, t).items()},
            "records": sorted(recs),
        }
        for t, recs in sorted(session.intersection().items())
    ]
    if as_json:
        print(
            json.dumps(
                {
                    "with": with_party,
                    "session": opened["id"],
                    "grain": grain.model_dump(),
                    "places": found,
                    "tokens": [session.own_size(k) for k in range(len(params.grains))],
                    "their_tokens": sizes,
                    "bytes_sent": peer.bytes_sent,
                    "bytes_received": peer.bytes_received,
                    "seconds": round(elapsed, 3),
                },
                indent=2,
            )
        )
    else:
        print(
            f"{len(found)} place(s) where {len(plans)} plan(s) and {with_party}'s may meet "
            f"(grain: S2 level {grain.s2_level}, {grain.slot_s} s, {grain.band_m} m; "
            f"{peer.bytes_sent + peer.bytes_received} bytes exchanged in {elapsed:.2f} s)"
        )
        for f in found:
            print(
                f"  {f['time_start']} .. {f['time_end']}, {f['alt_lower_m']:g} .. "
                f"{f['alt_upper_m']:g} m, cell {f['cell']} {f['bounds']}: "
                f"{', '.join(f['records'])}"
            )
    return 1 if found else 0
