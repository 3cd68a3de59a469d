"""The service over a real socket, started as a user would: ``deconfliction serve --demo``."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import free_port


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deconfliction",
            "serve",
            "--demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    tokens: dict[str, str] = {}
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(tokens) < 3:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.match(r"\s+(FR|RU|admin): (\S+)$", line)
            if m:
                tokens[m.group(1)] = m.group(2)
        assert set(tokens) == {"FR", "RU", "admin"}, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, tokens
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_demo_service_answers_with_the_scenario(demo_server: tuple[str, dict[str, str]]) -> None:
    base, tokens = demo_server
    assert httpx.get(f"{base}/v1/health").json()["status"] == "ok"
    fr = {"Authorization": f"Bearer {tokens['FR']}"}
    ru = {"Authorization": f"Bearer {tokens['RU']}"}
    assert httpx.get(f"{base}/v1/me", headers=fr).json()["party"] == "FR"
    own = httpx.get(f"{base}/v1/intents", headers=fr).json()["intents"]
    assert own and all(i["owner"] == "FR" for i in own)
    fr_conflicts = httpx.get(f"{base}/v1/conflicts", headers=fr).json()["conflicts"]
    ru_conflicts = httpx.get(f"{base}/v1/conflicts", headers=ru).json()["conflicts"]
    assert fr_conflicts, "the demo scenario has real conflicts"
    cross = {c["id"] for c in fr_conflicts if {c["a"]["owner"], c["b"]["owner"]} == {"FR", "RU"}}
    assert cross and cross <= {c["id"] for c in ru_conflicts}
    assert httpx.get(f"{base}/v1/intents").status_code == 401
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "deconfliction"


def test_small_writes_in_one_turn_go_out_as_one() -> None:
    """An answer's head and body reach the socket in one write (cli/wire.py); order and bytes
    are kept whatever comes: a large write, a close, an abort, a WebSocket upgrade."""
    import asyncio

    from deconfliction.cli.wire import HOLD_BYTES, OneWriteTransport

    class Fake:
        def __init__(self) -> None:
            self.log: list[tuple[str, bytes]] = []

        def write(self, data: bytes) -> None:
            self.log.append(("write", bytes(data)))

        def close(self) -> None:
            self.log.append(("close", b""))

        def abort(self) -> None:
            self.log.append(("abort", b""))

        def is_closing(self) -> bool:
            return False

        def set_protocol(self, _: object) -> None:
            self.log.append(("protocol", b""))

        def get_extra_info(self, name: str) -> str:
            return f"info {name}"

    big = b"x" * (HOLD_BYTES + 1)

    async def go() -> list[tuple[str, bytes]]:
        fake = Fake()
        t = OneWriteTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"head ")
        t.write(b"body")  # joined with the head
        t.write(b"alone")  # held until the turn ends
        await asyncio.sleep(0)
        t.write(b"head2 ")
        t.write(big)  # too large to hold: the head first, then it
        t.write(b"last")
        t.close()  # what is held goes out first
        t.write(b"dropped")
        t.abort()
        t.write(b"ws ")
        t.set_protocol(object())  # an upgrade: what is held first, then straight through
        t.write(b"frame")
        assert t.get_extra_info("peername") == "info peername"
        await asyncio.sleep(0)
        return fake.log

    assert asyncio.run(go()) == [
        ("write", b"head body"),
        ("write", b"alone"),
        ("write", b"head2 "),
        ("write", big),
        ("write", b"last"),
        ("close", b""),
        ("abort", b""),
        ("write", b"ws "),
        ("protocol", b""),
        ("write", b"frame"),
    ]
