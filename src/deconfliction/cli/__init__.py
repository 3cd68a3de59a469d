"""The ``deconfliction`` command line. It calls library functions only.

Exit codes: 0 success (``check``: no conflict; ``screen``: no place in common), 1 ``check``
found conflicts (``screen``: places in common), 2 bad input (one line on stderr naming what and
why), 3 ``serve`` cannot listen on its address (the port is taken, or not ours to take): one
line on stderr, before anything else is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DeconflictionError
from ..model import SeparationPolicy

DEFAULT_DATA_DIR = Path(os.environ.get("DECONFLICTION_DATA", "data"))


class UsageError(Exception):
    """Bad input on the command line: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, as argparse does, without usage
        raise UsageError(message)


def _policy(args: argparse.Namespace) -> SeparationPolicy:
    for name in ("lateral_m", "vertical_m", "time_s"):
        v = getattr(args, name)
        if not (v >= 0.0) or v == float("inf"):
            raise UsageError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
    try:
        return SeparationPolicy(
            lateral_m=args.lateral_m, vertical_m=args.vertical_m, time_s=args.time_s
        )
    except ValueError as exc:
        raise UsageError(f"buffers out of range: {exc}".splitlines()[0]) from None


def _add_buffers(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--lateral-m",
        type=float,
        default=0.0,
        metavar="M",
        help=f"lateral buffer in metres {what} (default 0)",
    )
    p.add_argument(
        "--vertical-m",
        type=float,
        default=0.0,
        metavar="M",
        help=f"vertical buffer in metres {what} (default 0)",
    )
    p.add_argument(
        "--time-s",
        type=float,
        default=0.0,
        metavar="S",
        help=f"time buffer in seconds {what} (default 0)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deconfliction", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--version", action="version", version=f"deconfliction {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=8000,
        help="TCP port to listen on (default 8000); a port in use: exit 3, nothing started",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the embedded database and development keys live (./data)",
    )
    serve.add_argument(
        "--db", default=None, help="database URL (default sqlite:///DATA_DIR/deconfliction.db)"
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo scenario and print a token for each demo party; the map's "
        "token-less demo login is on only when --host is a loopback address",
    )
    serve.add_argument(
        "--demo-login-anywhere",
        action="store_true",
        help="with --demo: keep the token-less demo login on although --host is not a loopback "
        "address (anyone who reaches the service can then act as any party)",
    )
    serve.add_argument(
        "--auth-public-key",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="public key that signs accepted tokens (repeatable); "
        "without one, the development key of the data folder",
    )
    serve.add_argument(
        "--auth-jwks-url",
        action="append",
        default=[],
        metavar="URL",
        help="a JWKS document whose keys sign accepted tokens (repeatable)",
    )
    serve.add_argument(
        "--auth-audience",
        action="append",
        default=[],
        metavar="AUD",
        help="accepted token audience (repeatable; default 'deconfliction')",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="API processes (more than 1 needs --db postgresql://...)",
    )
    serve.add_argument(
        "--rate-limit",
        type=float,
        default=1000.0,
        metavar="N",
        help="requests a second allowed to each caller, in bursts of 2N (default 1000)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="where DSS clients reach this service: the uss_base_url of native intents "
        "(default http://HOST:PORT)",
    )
    serve.add_argument(
        "--demo-party",
        action="append",
        default=[],
        metavar="PARTY",
        help="a federation node's demo: load only this party's demo records (repeatable; "
        "implies --demo; the agreement is made across nodes)",
    )
    serve.add_argument(
        "--peer-ping-s",
        type=float,
        default=10.0,
        metavar="S",
        help="how often each peer node's link is proven and its health recorded (default 10)",
    )
    _add_buffers(serve, "between records of different parties")

    check = sub.add_parser("check", help="check plan files for conflicts, offline")
    check.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="GeoJSON FeatureCollection, one Feature per 4D volume",
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    _add_buffers(check, "")

    tracks = sub.add_parser("tracks", help="live tracks: offline tools")
    tsub = tracks.add_subparsers(dest="tracks_command", required=True, parser_class=_Parser)
    tcheck = tsub.add_parser("check", help="replay recorded states through tactical detection")
    tcheck.add_argument(
        "file", type=Path, metavar="FILE", help="states as CSV with a header, or NDJSON"
    )
    tcheck.add_argument("--json", action="store_true", help="print JSON")
    tcheck.add_argument(
        "--lookahead-s", type=float, default=300.0, metavar="S", help="look-ahead (default 300)"
    )
    tcheck.add_argument(
        "--lateral-m",
        type=float,
        default=None,
        metavar="M",
        help="lateral minimum in metres for every pair of classes (default: 5 NM between "
        "aircraft, 2 NM with or between ships)",
    )
    tcheck.add_argument(
        "--vertical-m",
        type=float,
        default=None,
        metavar="M",
        help="vertical minimum in metres (default 1,000 ft; ships ignore height)",
    )

    feed = tsub.add_parser("feed", help="decode a live or recorded feed and send it")
    feed.add_argument(
        "kind",
        choices=["sbs", "ais", "asterix", "cot"],
        help="ADS-B BaseStation text, AIS NMEA, ASTERIX CAT021/048/062, or Cursor on Target",
    )
    feed.add_argument(
        "source",
        metavar="SOURCE",
        help="a file, tcp://HOST:PORT or udp://HOST:PORT (CoT also tls://HOST:PORT)",
    )
    feed.add_argument(
        "--to", required=True, metavar="URL", help="the service, e.g. http://127.0.0.1:8000"
    )
    feed.add_argument("--token", required=True, help="a bearer token of the reporting party")
    feed.add_argument(
        "--batch-s", type=float, default=1.0, metavar="S", help="send at most every S seconds"
    )
    feed.add_argument(
        "--radar",
        action="append",
        default=[],
        metavar="SAC/SIC=LON,LAT[,HEIGHT_M]",
        help="ASTERIX CAT048: where a radar stands (repeatable)",
    )
    feed.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="ASTERIX: the UTC day of the times of day (default: a capture's own date, else "
        "the day of reception)",
    )
    feed.add_argument(
        "--retry-s",
        type=float,
        default=60.0,
        metavar="S",
        help="keep trying a batch the service cannot take now (503, 429, unreachable) this long",
    )
    _add_format_commands(sub)

    audit = sub.add_parser("audit", help="the audit log: a party's export, verified offline")
    asub = audit.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    aexp = asub.add_parser("export", help="a party's view of the log, with its proofs")
    aexp.add_argument("--party", required=True, help="the party the export is for")
    aexp.add_argument("--out", required=True, type=Path, metavar="FILE")
    aexp.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    aexp.add_argument("--db", help="database URL (default: the data folder's SQLite file)")
    aver = asub.add_parser("verify", help="check an export: no server, no database")
    aver.add_argument("file", type=Path, metavar="FILE")
    aver.add_argument(
        "--key",
        action="append",
        default=[],
        type=Path,
        metavar="PEM",
        help="a trusted public key: the service's, and parties' (repeatable)",
    )
    aver.add_argument(
        "--after",
        type=Path,
        metavar="OLD",
        help="an earlier export (or checkpoint {seq, hash}) this one must extend",
    )
    awit = asub.add_parser(
        "witness",
        help="fetch your party's export, check it extends the one kept, countersign, keep it",
    )
    awit.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
    awit.add_argument("--token", required=True, help="a bearer token of your party")
    awit.add_argument("--key", required=True, type=Path, metavar="PEM", help="your party's key")
    awit.add_argument(
        "--keep", required=True, type=Path, metavar="DIR", help="where the copies are kept"
    )
    awit.add_argument(
        "--service-key",
        type=Path,
        metavar="PEM",
        help="the service's key (else pinned on first use)",
    )
    awit.add_argument(
        "--register", action="store_true", help="register your key first (a party admin's token)"
    )
    apk = asub.add_parser("party-key", help="make a party's Ed25519 key; print its public key")
    apk.add_argument("--out", required=True, type=Path, metavar="FILE")
    akey = asub.add_parser("key", help="print the service's audit public key (PEM)")
    akey.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)

    screen = sub.add_parser(
        "screen",
        help="blind screening: where plan files meet another party's plans held by a service, "
        "the plans staying here",
    )
    screen.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="GeoJSON plan files (as for check)"
    )
    screen.add_argument("--peer", required=True, metavar="URL", help="the service holding them")
    screen.add_argument("--token", required=True, help="a bearer token of your party")
    screen.add_argument(
        "--with", dest="with_party", required=True, metavar="PARTY", help="the other party"
    )
    screen.add_argument("--json", action="store_true", help="print JSON")

    peer = sub.add_parser("peer", help="federation: this node's key and its peer nodes")
    psub = peer.add_subparsers(dest="peer_command", required=True, parser_class=_Parser)
    pkey = psub.add_parser("key", help="print this node's public key (made on first use)")
    pkey.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    padd = psub.add_parser("add", help="add a peer node: its URL, its key, the parties it hosts")
    padd.add_argument("name", metavar="NAME", help="a name for the peer (e.g. ru-node)")
    padd.add_argument("--url", required=True, help="its base URL, e.g. https://ru.example:8443")
    padd.add_argument("--key", required=True, type=Path, metavar="PEM", help="its public key")
    padd.add_argument(
        "--party",
        action="append",
        required=True,
        metavar="ID[=NAME]",
        help="a party it hosts (repeatable)",
    )
    padd.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    padd.add_argument("--db", help="database URL (default: the data folder's SQLite file)")
    plist = psub.add_parser("list", help="the peers, and how delivery to each stands")
    plist.add_argument("--json", action="store_true", help="print JSON")
    plist.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    plist.add_argument("--db", help="database URL (default: the data folder's SQLite file)")
    prem = psub.add_parser("remove", help="remove a peer and what its parties released here")
    prem.add_argument("name", metavar="NAME")
    prem.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    prem.add_argument("--db", help="database URL (default: the data folder's SQLite file)")

    token = sub.add_parser("token", help="mint a development token (data folder's key)")
    token.add_argument("--party", required=True, help="the party the token acts for (sub)")
    token.add_argument("--admin", action="store_true", help="add the admin scope")
    token.add_argument("--scope", action="append", default=[], help="another scope (repeatable)")
    token.add_argument("--audience", default="deconfliction")
    token.add_argument("--ttl-s", type=int, default=12 * 3600)
    token.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    token.add_argument("--db", help="database URL (default: the data folder's SQLite file)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "check":
            from .check import run_check

            return run_check(args.files, _policy(args), as_json=args.json)
        if args.command == "token":
            return _token(args)
        if args.command == "screen":
            from .screen import run_screen

            return run_screen(args.files, args.peer, args.token, args.with_party, as_json=args.json)
        if args.command == "audit":
            from .audit import run_export, run_key, run_party_key, run_verify, run_witness

            if args.audit_command == "export":
                db = args.db or f"sqlite:///{args.data_dir / 'deconfliction.db'}"
                return run_export(db, args.data_dir, args.party, args.out)
            if args.audit_command == "verify":
                return run_verify(args.file, args.key, args.after)
            if args.audit_command == "witness":
                return run_witness(
                    args.url, args.token, args.key, args.keep, args.service_key, args.register
                )
            if args.audit_command == "party-key":
                return run_party_key(args.out)
            return run_key(args.data_dir)
        if args.command == "peer":
            from . import peer as peer_cli

            if args.peer_command == "key":
                return peer_cli.run_key(args.data_dir)
            db = args.db or f"sqlite:///{args.data_dir / 'deconfliction.db'}"
            if args.peer_command == "add":
                return peer_cli.run_add(
                    db, args.data_dir, args.name, args.url, args.key, args.party
                )
            if args.peer_command == "list":
                return peer_cli.run_list(db, args.json)
            return peer_cli.run_remove(db, args.name)
        if args.command == "tracks" and args.tracks_command == "feed":
            from .feed import run_feed

            return run_feed(
                args.kind,
                args.source,
                args.to,
                args.token,
                args.batch_s,
                args.radar,
                args.date,
                args.retry_s,
            )
        if args.command in ("cot", "kml", "notam", "navwarning", "airspace"):
            return _run_format_command(args)
        if args.command == "tracks":
            from .tracks import run_tracks_check

            return run_tracks_check(
                args.file,
                as_json=args.json,
                lookahead_s=args.lookahead_s,
                lateral_m=args.lateral_m,
                vertical_m=args.vertical_m,
            )
        if args.command == "serve":
            from .serve import run_serve

            return run_serve(args, _policy(args))
    except UsageError as exc:
        print(f"deconfliction: {exc}", file=sys.stderr)
        return 2
    except DeconflictionError as exc:
        print(f"deconfliction: {exc.user_message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 2


def _registered(party: str, data_dir: Path, db: str | None) -> None:
    """Refuse a token for a party the service does not know (it would be refused anyway)."""
    from ..errors import NotFound
    from ..store import open_store

    if db is None:
        path = data_dir / "deconfliction.db"
        if not path.is_file():
            raise UsageError(
                f"--party {party}: no database in {data_dir} to look the party up in "
                "(give the --data-dir or --db that serve uses)"
            )
        db = f"sqlite:///{path}"
    store = open_store(db)
    try:
        store.get_party(party)
    except NotFound:
        known = ", ".join(p.id for p in store.list_parties()) or "none"
        raise UsageError(
            f"--party {party}: not a registered party (registered: {known}); "
            "an admin registers parties with POST /v1/parties"
        ) from None
    finally:
        store.close()


def _add_format_commands(sub: Any) -> None:
    """``cot out``, ``kml``, ``notam``, ``navwarning``, ``airspace import`` (docs/formats.md)."""
    cot = sub.add_parser("cot", help="Cursor on Target (TAK): the released picture out")
    csub = cot.add_subparsers(dest="cot_command", required=True, parser_class=_Parser)
    out = csub.add_parser("out", help="serve or push your released picture as CoT")
    out.add_argument("--from", dest="from_", required=True, metavar="URL", help="the service")
    out.add_argument("--token", required=True, help="a bearer token of the party")
    out.add_argument("--listen", metavar="tcp://HOST:PORT", help="serve TAK clients here")
    out.add_argument("--push", metavar="URL", help="push to a TAK server: tcp://, tls://, udp://")
    out.add_argument("--every-s", type=float, default=5.0, metavar="S", help="refresh period")
    out.add_argument("--once", action="store_true", help="send the picture once, then stop")

    kml = sub.add_parser("kml", help="KML/KMZ of plan files or of your released picture")
    ksub = kml.add_subparsers(dest="kml_command", required=True, parser_class=_Parser)
    kp = ksub.add_parser("plans", help="plan files (GeoJSON) as KML, offline")
    kp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    kp.add_argument("--out", required=True, type=Path, metavar="FILE", help=".kml or .kmz")
    kpic = ksub.add_parser("picture", help="your released picture, from the service")
    kpic.add_argument("--from", dest="from_", required=True, metavar="URL", help="the service")
    kpic.add_argument("--token", required=True, help="a bearer token of the party")
    kpic.add_argument("--out", required=True, type=Path, metavar="FILE", help=".kml or .kmz")

    for name, what in (("notam", "ICAO NOTAM"), ("navwarning", "NAVAREA or NAVTEX warning")):
        p = sub.add_parser(name, help=f"the text of an {what} for an area")
        p.add_argument("area_id", nargs="?", metavar="AREA_ID", help="the area's id")
        p.add_argument("--from", dest="from_", metavar="URL", help="the service")
        p.add_argument("--token", help="a bearer token of the party")
        p.add_argument("--plan", type=Path, metavar="FILE", help="or: a plan file's record")
        p.add_argument("--lang", choices=["en", "fr", "ru"], default="en", help="language")
        p.add_argument("--number", type=int, default=1, metavar="N", help="message number")
        if name == "notam":
            p.add_argument("--fir", default="XXXX", metavar="ICAO", help="FIR (Q and A items)")
            p.add_argument("--series", default="A", metavar="L", help="NOTAM series letter")
        else:
            p.add_argument("--navarea", default="III", metavar="ROMAN", help="NAVAREA number")
            p.add_argument("--region", default="", help="the region line (e.g. 'Eastern Med')")
            p.add_argument("--navtex", metavar="B1", help="wrap as NAVTEX from this station")

    air = sub.add_parser("airspace", help="import restricted, danger and prohibited areas")
    asub = air.add_subparsers(dest="airspace_command", required=True, parser_class=_Parser)
    imp = asub.add_parser("import", help="OpenAir, AIXM 5.1, NOTAM or warnings as your areas")
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument(
        "--format", choices=["openair", "aixm", "notam", "navwarning"], help="default: guessed"
    )
    imp.add_argument("--to", metavar="URL", help="the service")
    imp.add_argument("--token", help="a bearer token of the importing party (planner)")
    imp.add_argument("--prefix", default="", help="put before every imported id")
    imp.add_argument("--days", type=int, default=28, help="OpenAir/AIXM window (default 28)")
    imp.add_argument("--agl-m", type=float, metavar="M", help="highest ground under AGL limits")
    imp.add_argument("--dry-run", action="store_true", help="read and list, write nothing")


def _run_format_command(args: argparse.Namespace) -> int:
    from . import formats

    if args.command == "cot":
        return formats.run_cot_out(
            args.from_, args.token, args.listen, args.push, args.every_s, args.once
        )
    if args.command == "kml":
        if args.kml_command == "plans":
            return formats.run_kml_plans(args.files, args.out)
        return formats.run_kml_picture(args.from_, args.token, args.out)
    if args.command == "notam":
        return formats.run_notam(args)
    if args.command == "navwarning":
        return formats.run_navwarning(args)
    return formats.run_airspace_import(args)


def _token(args: argparse.Namespace) -> int:
    from ..auth import ADMIN_SCOPE, dev_private_key, mint_token
    from ..model.records import _check_id

    try:
        _check_id(args.party)
    except ValueError as exc:
        raise UsageError(f"--party: {exc}") from None
    if args.ttl_s <= 0:
        raise UsageError("--ttl-s must be > 0")
    scopes = list(args.scope) + ([ADMIN_SCOPE] if args.admin else [])
    if not args.admin:  # a service admin acts for no party; anyone else must be one
        _registered(args.party, args.data_dir, args.db)
    key = dev_private_key(args.data_dir)
    print(mint_token(key, args.party, audience=args.audience, scopes=scopes, ttl_s=args.ttl_s))
    return 0
