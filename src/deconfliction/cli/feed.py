"""``deconfliction tracks feed (sbs|ais|asterix|cot) SOURCE --to URL --token T``: a feed into
the service.

SOURCE is a file, ``tcp://HOST:PORT`` (a receiver's text port, e.g. dump1090's 30003, or a TAK
server's streaming port) or ``udp://HOST:PORT`` (a port to listen on, e.g. AIS forwarded by a
receiver; a multicast group is joined), and for CoT also ``tls://HOST:PORT`` (pytak's TLS
client, configured by the ``PYTAK_TLS_*`` environment variables). Lines (SBS, AIS), datagrams
or recordings (ASTERIX: a pcap capture or raw blocks) and events (CoT: XML or TAK protocol) are
decoded (``formats.feeds``, ``formats.asterix``, ``formats.cot``) and the states POSTed to
``/v1/tracks`` in batches, at most every ``--batch-s`` seconds, as the token's party. A message
that cannot be read is skipped and counted (the count of each reason is printed at the end);
the feed goes on.

A batch the service cannot take now (503 while its database fails over or restarts, 429 when
the feed goes too fast) is sent again after the ``Retry-After`` it gives; one that cannot be
sent at all (the service restarting) is sent again after a growing pause; both for at most
``--retry-s`` seconds. Sending a batch twice is harmless: a track's state is kept only if it is
newer than the one held.
"""

from __future__ import annotations

import functools
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ..formats.feeds import AisDecoder, SbsDecoder
from ..model import TrackState
from . import UsageError


def _lines(source: str) -> Iterator[str]:
    parts = urlsplit(source)
    if parts.scheme == "tcp":
        if not parts.hostname or not parts.port:
            raise UsageError(f"SOURCE: tcp://HOST:PORT expected, got {source!r}")
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
            buf = b""
            while chunk := s.recv(65536):
                buf += chunk
                *done, buf = buf.split(b"\n")
                for line in done:
                    yield line.decode("ascii", "replace")
        return
    if parts.scheme == "udp":
        if not parts.port:
            raise UsageError(f"SOURCE: udp://HOST:PORT expected, got {source!r}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((parts.hostname or "0.0.0.0", parts.port))
            while True:
                data, _ = s.recvfrom(65536)
                yield from data.decode("ascii", "replace").splitlines()
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"SOURCE: no such file {source!r} (or use tcp:// or udp://)")
    with path.open(encoding="ascii", errors="replace") as f:
        yield from f


#: Statuses that mean "not now": the batch is sent again after Retry-After.
RETRY_STATUSES = (429, 502, 503, 504)
#: Longest pause between two tries, whatever Retry-After says.
MAX_PAUSE_S = 30.0


def _pause_s(retry_after: str | None, fallback_s: float) -> float:
    try:
        given = float(retry_after) if retry_after is not None else fallback_s
    except ValueError:
        given = fallback_s
    return min(MAX_PAUSE_S, max(0.1, given))


def _post(url: str, token: str, states: list[TrackState], retry_s: float = 60.0) -> None:
    body = json.dumps(
        {"states": [s.model_dump(mode="json", by_alias=True) for s in states]}
    ).encode()
    deadline = time.monotonic() + retry_s
    backoff_s = 0.5
    while True:
        req = urllib.request.Request(
            url.rstrip("/") + "/v1/tracks",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
            return
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace")
            if exc.code not in RETRY_STATUSES or time.monotonic() >= deadline:
                raise UsageError(
                    f"--to: the service refused the batch: HTTP {exc.code} {detail}"
                ) from None
            pause = _pause_s(exc.headers.get("Retry-After"), backoff_s)
            why = f"HTTP {exc.code}"
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise UsageError(f"--to: cannot reach {url}: {exc}") from None
            pause, why = backoff_s, f"cannot reach it ({exc})"
        backoff_s = min(MAX_PAUSE_S, backoff_s * 2)
        pause = min(pause, max(0.1, deadline - time.monotonic()))
        print(f"the service cannot take the batch now: {why}; again in {pause:.1f} s",
              file=sys.stderr)  # fmt: skip
        time.sleep(pause)


def run_feed(
    kind: str,
    source: str,
    to: str,
    token: str,
    batch_s: float,
    radars: Sequence[str] = (),
    day: str | None = None,
    retry_s: float = 60.0,
) -> int:
    if not to.startswith(("http://", "https://")):
        raise UsageError(f"--to must be an http:// or https:// URL, got {to!r}")
    if not batch_s > 0:
        raise UsageError(f"--batch-s must be > 0, got {batch_s}")
    if not retry_s >= 0:
        raise UsageError(f"--retry-s must be >= 0, got {retry_s}")
    post = functools.partial(_post, retry_s=retry_s)
    if kind == "asterix":
        from .feed_binary import run_asterix

        return run_asterix(source, to, token, batch_s, radars, day, post)
    if kind == "cot":
        from .feed_binary import run_cot

        return run_cot(source, to, token, batch_s, post)
    decoder = SbsDecoder() if kind == "sbs" else AisDecoder()
    batch: list[TrackState] = []
    sent = 0
    last = time.monotonic()
    for line in _lines(source):
        state = decoder.feed(line)
        if state is not None:
            batch.append(state)
        if batch and (len(batch) >= 5000 or time.monotonic() - last >= batch_s):
            _post(to, token, batch, retry_s)
            sent += len(batch)
            batch = []
            last = time.monotonic()
    if batch:
        _post(to, token, batch, retry_s)
        sent += len(batch)
    print(f"{sent} states sent; {decoder.skipped} lines skipped", file=sys.stderr)
    return 0
