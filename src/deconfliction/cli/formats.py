"""Commands that speak other tools' formats: ``cot out``, ``kml``, ``notam``, ``navwarning``,
``airspace import``. Whatever carries the service's data is fetched from the service, as the
token's party sees it (the released picture); plan files are the user's own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ..formats import kml as kml_format
from ..formats import notam as notam_format
from ..formats.airspace import AreaImportError, Window
from ..formats.cot import import_pytak
from ..formats.plans import PlanError, load_plans
from ..model import Area, AreaKind, RecordExtent
from . import UsageError

FORMATS = ("openair", "aixm", "notam", "navwarning")


def _check_url(url: str, opt: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"{opt} must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def _request(url: str, token: str, opt: str, data: bytes | None = None, ctype: str = "") -> bytes:
    headers = {"Authorization": f"Bearer {token}"}
    if ctype:
        headers["Content-Type"] = ctype
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            body: bytes = r.read()
            return body
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("detail", detail)
        raise UsageError(f"{opt}: the service answered HTTP {exc.code}: {detail}") from None
    except OSError as exc:
        raise UsageError(f"{opt}: cannot reach {url}: {exc}") from None


# --- CoT out ----------------------------------------------------------------------------
def _events(base: str, token: str, stale_s: float) -> list[bytes]:
    import xml.etree.ElementTree as ET

    body = _request(f"{base}/v1/picture/cot?stale_s={stale_s:g}", token, "--from")
    root = ET.fromstring(body)
    return [ET.tostring(ev) for ev in root]


def run_cot_out(
    base: str,
    token: str,
    listen: str | None,
    push: str | None,
    every_s: float,
    once: bool,
) -> int:
    base = _check_url(base, "--from")
    if (listen is None) == (push is None):
        raise UsageError("give one of --listen tcp://HOST:PORT or --push URL")
    if not every_s > 0:
        raise UsageError(f"--every-s must be > 0, got {every_s}")
    stale_s = max(60.0, 3 * every_s)
    _events(base, token, stale_s)  # fail early on a bad URL or token
    if push is not None:
        return asyncio.run(_push(base, token, push, every_s, once, stale_s))
    assert listen is not None
    parts = urlsplit(listen)
    if parts.scheme != "tcp" or not parts.port:
        raise UsageError(f"--listen: tcp://HOST:PORT expected, got {listen!r}")
    host = parts.hostname or "127.0.0.1"
    return asyncio.run(_serve(base, token, host, parts.port, every_s, once, stale_s))


async def _push(base: str, token: str, url: str, every_s: float, once: bool, stale_s: float) -> int:
    pytak = import_pytak()

    from .feed_binary import _pytak_config

    scheme = urlsplit(url).scheme
    if scheme not in ("tcp", "tls", "ssl", "udp", "udp+wo", "tls+wo", "tcp+wo"):
        raise UsageError(f"--push: tcp://, tls:// or udp:// expected, got {url!r}")
    cfg = _pytak_config(url.replace("udp://", "udp+wo://", 1))
    try:
        _, writer = await pytak.protocol_factory(cfg)
    except OSError as exc:
        raise UsageError(f"--push: cannot reach {url}: {exc}") from None
    tx = pytak.TXWorker(asyncio.Queue(), cfg, writer)
    sent = 0
    while True:
        events = await asyncio.to_thread(_events, base, token, stale_s)
        for ev in events:
            await tx.send_data(ev)
        sent += len(events)
        if once:
            print(f"{sent} events pushed to {url}", file=sys.stderr)
            return 0
        await asyncio.sleep(every_s)


async def _serve(
    base: str, token: str, host: str, port: int, every_s: float, once: bool, stale_s: float
) -> int:
    clients: set[asyncio.StreamWriter] = set()

    async def on_client(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.add(writer)

    server = await asyncio.start_server(on_client, host, port)
    print(f"serving CoT on tcp://{host}:{port}", file=sys.stderr, flush=True)
    async with server:
        while True:
            if clients:
                events = await asyncio.to_thread(_events, base, token, stale_s)
                for w in list(clients):
                    try:
                        for ev in events:
                            w.write(ev)
                        await w.drain()
                    except (ConnectionError, OSError):
                        clients.discard(w)
                if once:
                    for w in clients:
                        w.close()
                    return 0
            await asyncio.sleep(every_s if clients else 0.1)


# --- KML --------------------------------------------------------------------------------
def _write(out: Path, kml_text: str) -> None:
    try:
        if out.suffix.lower() == ".kmz":
            out.write_bytes(kml_format.to_kmz(kml_text))
        else:
            out.write_text(kml_text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out: cannot write {out}: {exc.strerror}") from None


def run_kml_plans(files: list[Path], out: Path) -> int:
    try:
        records = load_plans(files)
    except PlanError as exc:
        raise UsageError(str(exc)) from None
    _write(out, kml_format.plans_kml(records))
    print(f"{len(records)} records written to {out}", file=sys.stderr)
    return 0


def run_kml_picture(base: str, token: str, out: Path) -> int:
    base = _check_url(base, "--from")
    text = _request(f"{base}/v1/picture/kml", token, "--from").decode("utf-8")
    _write(out, text)
    print(f"the released picture written to {out}", file=sys.stderr)
    return 0


# --- NOTAM and navigational warnings ----------------------------------------------------
def _area(base: str | None, token: str | None, area_id: str | None, plan: Path | None) -> Any:
    if plan is not None:
        if area_id is None:
            raise UsageError("AREA_ID: name the plan file's record (its intent_id)")
        try:
            recs = [r for r in load_plans([plan]) if r.id == area_id]
        except PlanError as exc:
            raise UsageError(str(exc)) from None
        if not recs:
            raise UsageError(f"AREA_ID: no record {area_id!r} in {plan}")
        r = recs[0]
        kind = r.area_kind if r.kind.value == "area" else AreaKind.EXERCISE
        return (
            RecordExtent.model_construct(kind=r.kind, id=r.id, owner=r.party, volumes=r.volumes),
            r.name or r.id,
            kind,
        )
    if base is None or token is None or area_id is None:
        raise UsageError("give AREA_ID with --from URL and --token, or --plan FILE")
    base = _check_url(base, "--from")
    body = json.loads(_request(f"{base}/v1/areas/{quote(area_id, safe='')}", token, "--from"))
    if "kind" in body and body.get("kind") in ("area", "intent"):
        ext = RecordExtent.model_validate(body)  # another party's, as released
        return ext, ext.id, AreaKind.RESTRICTED
    a = Area.model_validate(body)
    return a, a.name or a.id, a.kind


class _Named:
    def __init__(self, rec: Any, name: str, kind: AreaKind) -> None:
        self.id, self.owner, self.volumes = rec.id, rec.owner, rec.volumes
        self.name, self.kind = name, kind


def run_notam(args: Any) -> int:
    rec, name, kind = _area(args.from_, args.token, args.area_id, args.plan)
    try:
        texts = notam_format.notams(
            _Named(rec, name, kind),
            args.lang,
            fir=args.fir,
            series=args.series,
            number=args.number,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print("\n\n".join(texts))
    return 0


def run_navwarning(args: Any) -> int:
    rec, name, kind = _area(args.from_, args.token, args.area_id, args.plan)
    try:
        text = notam_format.navwarning(
            _Named(rec, name, kind),
            args.lang,
            navarea=args.navarea,
            number=args.number,
            region=args.region,
            navtex=args.navtex,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(text)
    return 0


# --- airspace import --------------------------------------------------------------------
def guess_format(path: Path, data: bytes) -> str:
    head = data[:4096].decode("utf-8", "replace")
    if path.suffix.lower() in (".xml", ".aixm") or "aixm" in head[:2000]:
        return "aixm"
    if "NOTAMN" in head or "NOTAMR" in head or "Q) " in head:
        return "notam"
    if any(w in head for w in ("NAVAREA", "ZCZC", "NAVTEX", "TURNHOS", "HYDROPAC", "HYDROLANT")):
        return "navwarning"
    return "openair"


def run_airspace_import(args: Any) -> int:
    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"FILE: cannot read {path}: {exc.strerror}") from None
    fmt = args.format or guess_format(path, data)
    if not 1 <= args.days <= 31:
        raise UsageError(f"--days must be 1 to 31, got {args.days}")
    if args.dry_run:
        from ..api.formats import ImportFormat, parse_import

        try:
            areas, left_out, notes = parse_import(
                data,
                ImportFormat(fmt),
                str(path),
                Window.airac(days=args.days),
                args.prefix,
                args.agl_m,
            )
        except AreaImportError as exc:
            raise UsageError(str(exc)) from None
        for a in areas:
            v = a.volumes[0]
            print(
                f"{a.id}: {a.kind.value}, {len(a.volumes)} volume(s), {v.alt_lower_m:.0f} m to "
                f"{v.alt_upper_m:.0f} m, {a.name}"
            )
        _summary(len(areas), left_out, notes, "would be created")
        return 0
    if args.to is None or args.token is None:
        raise UsageError("--to URL and --token are needed to import (or --dry-run)")
    base = _check_url(args.to, "--to")
    query = {"format": fmt, "prefix": args.prefix, "days": str(args.days)}
    if args.agl_m is not None:
        query["agl_m"] = f"{args.agl_m:g}"
    started = time.monotonic()
    body = _request(
        f"{base}/v1/areas/import?{urlencode(query)}",
        args.token,
        "--to",
        data=data,
        ctype="application/xml" if fmt == "aixm" else "text/plain; charset=utf-8",
    )
    res = json.loads(body)
    for rid in res["created"]:
        print(rid)
    _summary(len(res["created"]), res["left_out"], res["notes"], "created")
    print(
        f"{res['conflicts']} conflicts opened; {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


def _summary(n: int, left_out: dict[str, int], notes: list[str], verb: str) -> None:
    print(f"{n} areas {verb}", file=sys.stderr)
    if left_out:
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(left_out.items()))
        print(f"left out (not restricted, danger or prohibited): {kinds}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
