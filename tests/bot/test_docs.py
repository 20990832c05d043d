"""The protocol and the flows are documented: frames in README, steps in diagrams, texts in two languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.flows import all_flows
from bot.texts import TEXTS

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_frame_type() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Web chat protocol"):]
    source = (ROOT / "bot/channels/webchat.py").read_text(encoding="utf-8")
    handled = set(re.findall(r'kind == "(\w+)"', source)) | {"hello"}
    for kind in handled | {"reply", "notice", "error"}:
        assert f'"type": "{kind}"' in section, kind


@pytest.mark.parametrize("name", sorted(all_flows()))
def test_every_step_is_in_its_diagram(name: str) -> None:
    diagram = (ROOT / "bot/flows" / f"{name}.mmd").read_text(encoding="utf-8")
    for step in all_flows()[name].steps:
        assert re.search(rf"\b{step.name}\b", diagram), f"{name}.mmd lacks step {step.name}"


def test_every_text_has_both_languages_and_the_same_fields() -> None:
    for key, (zh, en) in TEXTS.items():
        assert zh and en, key
        assert sorted(re.findall(r"\{(\w+)", zh)) == sorted(re.findall(r"\{(\w+)", en)), key
