"""Federation: a node per party (or per coalition cell), and no one hosts another's plans.

A node holds its own parties' records in full and, of other nodes' parties, only what their
agreements release to its parties (``views``), kept apart from its records. Nodes talk over
signed HTTP (``signatures``: RFC 9421 with Ed25519 and a Content-Digest), each through its
outbox to each peer (``outbox``, ``dispatcher``: at least once, in order, resumed after a
partition or a restart), each applying what it receives once, in order (``inbox``). What
crosses: released views and their withdrawals, conflict notices (``conflicts``), agreements,
hotline messages, acknowledgements and escalations, checkpoint countersignatures, tracks as
released and link pings (``relay``). docs/federation.md has the protocol and the trust model.
"""

from .keys import NodeKey
from .service import Federation

__all__ = ["Federation", "NodeKey"]
