"""The README documents every setting and the commands a new user runs first."""

from __future__ import annotations

import re
from pathlib import Path

from backoffice.cli import build_parser
from storage.settings import ENV_VARS, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = set(re.findall(r"^\| `((?:APPEALS|TELEGRAM)_[A-Z_]+)` \|", README, flags=re.M))
    assert set(ENV_VARS) - documented == set(), "settings missing from README's table"
    assert documented - set(ENV_VARS) == set(), "README documents settings the code does not read"


def test_every_setting_maps_to_a_field_and_its_default_matches() -> None:
    defaults = Settings.from_env({})
    for name, default in ENV_VARS.items():
        field = name.removeprefix("APPEALS_").lower()
        assert hasattr(defaults, field), name
        if default is not None:
            assert f"| `{name}` | `{default}` |" in README, f"README shows another default for {name}"


def test_quick_start_shows_make_run_then_make_test_first() -> None:
    start = README.index("## Quick start")
    block = README[start:].split("```")[1]
    lines = [line.split("#")[0].strip() for line in block.strip().splitlines()[1:]]
    assert lines[:2] == ["make run", "make test"]


def test_every_cli_command_is_in_the_readme() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"appeals {name}" in README or f"/ {name}" in README, name


def test_every_setting_is_used_by_the_platform() -> None:
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for package in ("storage", "bot", "backoffice", "intents")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "settings.py"
    )
    for name in ENV_VARS:
        field = name.removeprefix("APPEALS_").lower()
        assert re.search(rf"\.{field}\b", sources), f"{name} is read but nothing uses it"
