"""What each party may see of another's records (need-to-know, releasability, reciprocity)."""

from ..store.base import StoreHooks
from .release import conflict_note


def install(hooks: StoreHooks) -> None:
    """Plug the release rule into a store's transactions: what each party of a conflict is told
    of it (``release.conflict_note``)."""
    hooks.conflict_note = conflict_note
