"""Tamper-evident audit: a hash chain that each side can check alone."""

from .chain import GENESIS, AuditEntry, digest, first_bad_entry

__all__ = ["GENESIS", "AuditEntry", "digest", "first_bad_entry"]
