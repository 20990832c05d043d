"""Action forms from the transition table: one field per required/optional name, and payload parsing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multidict import MultiDictProxy

from storage.labels import ACTION, RATING, REJECT_CLASS, SUPERVISE_LEVEL, field_label
from storage.lifecycle import TRANSITIONS, Action

TEXTAREAS = frozenset({"note", "reason", "reply", "comment", "text"})
BOOLS = frozenset({"reached", "solved", "contacted", "public"})
UNIT_FIELDS = frozenset({"lead_unit", "co_unit", "suggested_unit"})
ENUMS = {"reject_class": REJECT_CLASS, "rating": RATING, "level": SUPERVISE_LEVEL}


class BadPayload(ValueError):
    """A request body has the wrong shape or types (answered with 400)."""


@dataclass(frozen=True)
class FieldSpec:
    """One form field of an action."""

    name: str
    label: str
    kind: str  # textarea | text | select | multiselect | number | bool | category
    required: bool
    choices: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ActionForm:
    """An action the user may take now, with its fields."""

    action: str
    label: str
    fields: list[FieldSpec]
    primary: bool


def _choices(name: str, lang: str, units: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    if name in ENUMS:
        i = 1 if lang == "en" else 0
        return "select", [(k.value, v[i]) for k, v in ENUMS[name].items()]
    if name in BOOLS:
        return "bool", [("1", "是" if lang != "en" else "Yes"), ("0", "否" if lang != "en" else "No")]
    if name in UNIT_FIELDS:
        return "select", units
    if name == "co_units":
        return "multiselect", units
    if name == "days":
        return "number", []
    if name == "category":
        return "category", []
    return ("textarea" if name in TEXTAREAS else "text"), []


def action_form(action: Action, lang: str, units: list[tuple[str, str]]) -> ActionForm:
    """Build the form of one action from its row in the transition table."""
    t = TRANSITIONS[action]
    specs = []
    for name, required in [(n, True) for n in t.required] + [(n, False) for n in t.optional]:
        kind, choices = _choices(name, lang, units)
        specs.append(FieldSpec(name, field_label(name, lang), kind, required, choices))
    zh, en = ACTION[action]
    return ActionForm(action.value, en if lang == "en" else zh, specs, primary=t.target is not None)


def _names(action: Action) -> tuple[str, ...]:
    t = TRANSITIONS[action]
    return t.required + t.optional


def payload_from_form(action: Action, form: MultiDictProxy[Any]) -> dict[str, Any]:
    """Read an action's fields from a posted form; blank optional fields are left out."""
    out: dict[str, Any] = {}
    for name in _names(action):
        if name == "co_units":
            values = [v for v in form.getall(name, []) if isinstance(v, str) and v.strip()]
            if values:
                out[name] = values
            continue
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value
        elif name in TRANSITIONS[action].required:
            out[name] = ""
    return out


def payload_from_json(action: Action, data: Any) -> dict[str, Any]:
    """Check a JSON payload: an object of known fields holding text, numbers, booleans or text lists."""
    if not isinstance(data, Mapping):
        raise BadPayload("payload must be an object")
    known = set(_names(action))
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            raise BadPayload(f"unknown field {name!r}")
        if name == "co_units":
            if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                                       for v in value):
                raise BadPayload("co_units must be a list of unit codes or ids")
        elif name in BOOLS:
            if not isinstance(value, bool):
                raise BadPayload(f"{name} must be true or false")
        elif name in ("days", "lead_unit", "co_unit"):
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise BadPayload(f"{name} must be a number or text")
        elif not isinstance(value, str):
            raise BadPayload(f"{name} must be text")
        out[name] = value
    return out
