"""Versioned SQL migrations, applied in order; see ``deconfliction.store.migrate``."""
