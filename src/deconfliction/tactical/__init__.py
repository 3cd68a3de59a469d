"""The live tactical picture in the service: every cycle, the live tracks against each other,
against other parties' areas and intents (as released to the track's owner) and against their
own intents (conformance); alerts raised, updated and cleared, each an outbox event and an audit
entry.

The detection itself is the engine's (``engine.tactical``, ``engine.encounter``,
``engine.alert_book``): pure functions on arrays. This package is what runs them on the stored
tracks, the release rule (``exchange``) and the store, so it sits above both.
"""

from .monitor import TacticalMonitor

__all__ = ["TacticalMonitor"]
