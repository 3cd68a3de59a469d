"""An answer's head and body in one write to the socket.

uvicorn's HTTP protocol writes an answer's head (status line and headers) when the app sends
``http.response.start`` and its body when the app sends ``http.response.body``: two ``send``
calls to the kernel for one small answer, each a good part of what an answer costs the event
loop (a profile of ``serve`` answering DSS queries: about a quarter of the loop's busy time in
them). ``OneWriteProtocol`` is that protocol with its transport wrapped so that a small write
is held until the next write or the end of the event loop's turn, whichever comes first: the
head then goes out with the body, in one call. The bytes sent and their order are the same;
nothing waits longer than the current turn of the loop (the app sends the head and the body
one after the other, in the same turn). A large write, a close, an abort or a protocol switch
(a WebSocket upgrade: from then on every write goes straight through) first sends what is
held.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Writes up to this size are held (a head, a small body); larger ones go out at once.
HOLD_BYTES = 16 << 10


class OneWriteTransport:
    """A transport whose small writes within one turn of the event loop go out together."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._through = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= HOLD_BYTES:
                self._transport.write(held + bytes(data))
                return
            self._transport.write(held)
        if self._through or len(data) > HOLD_BYTES:
            self._transport.write(data)
            return
        self._held = bytes(data)
        self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send what is held, if anything."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, lines: Any) -> None:
        self.flush()
        self._transport.writelines(lines)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._through = True  # another protocol (a WebSocket) now owns the connection
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a ``OneWriteTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped: Any = OneWriteTransport(transport, self.loop)
        super().connection_made(wrapped)
