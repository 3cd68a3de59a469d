"""Docs against the code: the public API, every CLI command and option, the README quickstart."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

import deconfliction
from deconfliction.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_public_api_is_small_sorted_and_importable() -> None:
    names = deconfliction.__all__
    assert names == sorted(names)
    # the package imports each name on first use: it knows where to find every one it exports
    assert set(names) == {*deconfliction._FROM, "__version__"}
    for n in names:
        assert hasattr(deconfliction, n), n
    assert set(names) <= set(dir(deconfliction))
    missing = "no_such_name"
    with pytest.raises(AttributeError, match=missing):
        getattr(deconfliction, missing)


def _commands(
    parser: argparse.ArgumentParser, prefix: str
) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every leaf command (``tracks check`` as well as ``serve``) with its parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(prefix, parser)]
    out = []
    for name, p in subs[0].choices.items():
        out += _commands(p, f"{prefix} {name}".strip())
    return out


def test_every_cli_command_and_option_is_documented() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    commands = _commands(build_parser(), "")
    assert len(commands) >= 4
    for name, p in commands:
        assert f"## `deconfliction {name}`" in doc, name
        section = doc.split(f"## `deconfliction {name}`", 1)[1].split("\n## ", 1)[0]
        for action in p._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in section, f"{name} {opt} is not in docs/cli.md"


def test_readme_quickstart_has_the_two_commands_and_they_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick, re.S)
    assert block is not None
    commands = [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert commands == ["scripts/demo", "scripts/test"]
    for c in commands:
        assert os.access(ROOT / c, os.X_OK), c
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec scripts/test" in ci
