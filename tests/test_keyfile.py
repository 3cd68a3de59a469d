"""The data folder's private keys: made once, by whichever process comes first."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deconfliction.audit.signing import AUDIT_KEY_FILE, Signer, public_pem
from deconfliction.auth import DEV_KEY_FILE, dev_private_key
from deconfliction.auth import public_pem as ec_public_pem
from deconfliction.federation.keys import NodeKey


def _keys_of(folder: str, barrier: Any, out: Any) -> None:
    """In a process of its own: the folder's three keys, asked for at the same moment as the
    other processes."""
    barrier.wait()
    data = Path(folder)
    try:
        out.put(
            (
                public_pem(Signer.in_folder(data).public),
                NodeKey.in_folder(data).public_pem,
                ec_public_pem(dev_private_key(data)),
            )
        )
    except Exception as exc:  # the parent reports it
        out.put(repr(exc))


def test_processes_started_at_once_on_a_new_folder_all_get_one_key(tmp_path: Path) -> None:
    """``serve --workers N`` on a new data folder: every process must sign the audit log with
    the same key, speak for the node with the same key and accept the same tokens."""
    ctx = multiprocessing.get_context("spawn")
    n = 6
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_keys_of, args=(str(tmp_path), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(isinstance(g, tuple) for g in got), got
    assert len(set(got)) == 1, "the processes ended with different keys"
    for name in sorted(os.listdir(tmp_path)):
        assert not name.startswith("."), f"a temporary file was left: {name}"
        if name.endswith(".pem"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_a_key_made_meanwhile_by_another_process_is_the_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race lost on purpose: another process links its key in place just before this one
    does. This one gets that key, not the one it made, and leaves no file of its own."""
    theirs = Ed25519PrivateKey.generate()
    link = os.link

    def link_after_theirs(src: Any, dst: Any) -> None:
        Path(dst).write_bytes(
            theirs.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        link(src, dst)

    monkeypatch.setattr(os, "link", link_after_theirs)  # what keyfile.private_key calls
    mine = Signer.in_folder(tmp_path)
    assert public_pem(mine.public) == public_pem(theirs.public_key())
    assert os.listdir(tmp_path) == [AUDIT_KEY_FILE]


def test_a_file_holding_another_kind_of_key_is_refused(tmp_path: Path) -> None:
    dev_private_key(tmp_path)  # an EC key where the audit key is to be
    (tmp_path / DEV_KEY_FILE).rename(tmp_path / AUDIT_KEY_FILE)
    with pytest.raises(ValueError, match=f"{AUDIT_KEY_FILE} is not an Ed25519 private key"):
        Signer.in_folder(tmp_path)
