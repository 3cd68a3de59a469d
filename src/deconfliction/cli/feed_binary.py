"""The binary and event feeds of ``tracks feed``: ASTERIX (files and UDP, multicast joined)
and Cursor on Target (files; TCP, TLS and UDP through pytak's client)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..formats.asterix import AsterixDecoder, AsterixError, parse_radar, read_recording
from ..formats.cot import CotError, CotStreamSplitter, import_pytak, state_from_message
from ..model import TrackState
from . import UsageError

Post = Callable[[str, str, list[TrackState]], None]


class _Batcher:
    def __init__(self, to: str, token: str, batch_s: float, post: Post) -> None:
        self.to, self.token, self.batch_s, self.post = to, token, batch_s, post
        self.batch: list[TrackState] = []
        self.sent = 0
        self.last = time.monotonic()

    def add(self, states: Sequence[TrackState]) -> None:
        self.batch += states
        if self.batch and (len(self.batch) >= 5000 or time.monotonic() - self.last >= self.batch_s):
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.post(self.to, self.token, self.batch)
            self.sent += len(self.batch)
            self.batch = []
        self.last = time.monotonic()


def _report(sent: int, skipped: int, reasons: dict[str, int]) -> None:
    print(f"{sent} states sent; {skipped} messages skipped", file=sys.stderr)
    for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {n} x {why}", file=sys.stderr)


def _udp(host: str | None, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    multicast = False
    with contextlib.suppress(ValueError):
        multicast = ipaddress.ip_address(host or "0.0.0.0").is_multicast
    s.bind(("0.0.0.0" if multicast else host or "0.0.0.0", port))
    if multicast:
        mreq = struct.pack("4sl", socket.inet_aton(host or ""), socket.INADDR_ANY)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    return s


def run_asterix(
    source: str,
    to: str,
    token: str,
    batch_s: float,
    radars: Sequence[str],
    day: str | None,
    post: Post,
) -> int:
    try:
        known = dict(parse_radar(r) for r in radars)
    except AsterixError as exc:
        raise UsageError(str(exc)) from None
    when: date | None = None
    if day is not None:
        try:
            when = date.fromisoformat(day)
        except ValueError:
            raise UsageError(f"--date: YYYY-MM-DD expected, got {day!r}") from None
    decoder = AsterixDecoder(radars=known, day=when)
    out = _Batcher(to, token, batch_s, post)
    parts = urlsplit(source)
    if parts.scheme == "udp":
        if not parts.port:
            raise UsageError(f"SOURCE: udp://HOST:PORT expected, got {source!r}")
        with _udp(parts.hostname, parts.port) as s:
            while True:
                data, _ = s.recvfrom(65536)
                out.add(decoder.decode(data))
    if parts.scheme:
        raise UsageError(f"SOURCE: a file or udp://HOST:PORT for ASTERIX, got {source!r}")
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"SOURCE: no such file {source!r} (or use udp://HOST:PORT)")
    try:
        for stamp, block in read_recording(path.read_bytes()):
            if decoder.day is None and stamp is not None:
                decoder.day = stamp.date()  # a capture's own date
            out.add(decoder.decode(block))
    except AsterixError as exc:
        raise UsageError(f"{source}: {exc}") from None
    out.flush()
    _report(out.sent, decoder.skipped, decoder.reasons)
    return 0


class CotFeed:
    """CoT messages to states, counting what it skips and why."""

    def __init__(self) -> None:
        self.skipped = 0
        self.not_tracks = 0
        self.reasons: dict[str, int] = {}

    def decode(self, msg: bytes) -> list[TrackState]:
        try:
            s = state_from_message(msg)
        except CotError as exc:
            self.skipped += 1
            why = str(exc).split(":")[0] + ": " + str(exc).split(": ", 1)[-1][:60]
            self.reasons[why] = self.reasons.get(why, 0) + 1
            print(f"deconfliction: skipped a CoT message: {exc}", file=sys.stderr)
            return []
        if s is None:
            self.not_tracks += 1
            return []
        return [s]


def _pytak_config(url: str) -> Any:
    from configparser import ConfigParser

    cp = ConfigParser(interpolation=None)
    cp["feed"] = {k: v for k, v in os.environ.items() if k.startswith("PYTAK_")}
    cp["feed"]["COT_URL"] = url
    return cp["feed"]


async def _network_messages(source: str) -> Any:
    """Messages from a TAK server or a CoT stream, through pytak's client."""
    pytak = import_pytak()

    parts = urlsplit(source)
    url = source.replace("udp://", "udp+ro://", 1) if parts.scheme == "udp" else source
    reader, _ = await pytak.protocol_factory(_pytak_config(url))
    if parts.scheme == "udp":
        while True:
            data, _addr = await reader.recv()
            yield bytes(data)
    split = CotStreamSplitter()
    while chunk := await reader.read(65536):
        for msg in split.feed(chunk):
            yield msg


def _file_messages(path: Path) -> Iterator[bytes]:
    split = CotStreamSplitter()
    with path.open("rb") as f:
        while chunk := f.read(65536):
            yield from split.feed(chunk)


def run_cot(source: str, to: str, token: str, batch_s: float, post: Post) -> int:
    feed = CotFeed()
    out = _Batcher(to, token, batch_s, post)
    parts = urlsplit(source)
    if parts.scheme in ("tcp", "tls", "ssl", "udp"):
        if not parts.hostname or not parts.port:
            raise UsageError(f"SOURCE: {parts.scheme}://HOST:PORT expected, got {source!r}")

        async def pump() -> None:
            async for msg in _network_messages(source):
                out.add(feed.decode(msg))
            out.flush()

        try:
            asyncio.run(pump())
        except OSError as exc:
            raise UsageError(f"SOURCE: cannot reach {source}: {exc}") from None
        except (SyntaxError, ValueError) as exc:  # pytak's word on its TLS settings
            raise UsageError(f"SOURCE: {source}: {exc}") from None
    elif parts.scheme:
        raise UsageError(f"SOURCE: a file, tcp://, tls:// or udp:// for CoT, got {source!r}")
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"SOURCE: no such file {source!r} (or tcp://, tls://, udp://)")
        for msg in _file_messages(path):
            out.add(feed.decode(msg))
        out.flush()
    print(
        f"{out.sent} states sent; {feed.skipped} messages skipped; "
        f"{feed.not_tracks} events that are not tracks passed over",
        file=sys.stderr,
    )
    return 0
