"""Personal data on screen: masked by default (138****1234, address to street level)."""

from __future__ import annotations

from typing import Any

from intents.extract import mask_phone, mask_pii
from storage.models import Case, Citizen


def mask_name(name: str | None) -> str:
    """Keep the first character of a name: 张三 -> 张*."""
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def street_level(case: Case) -> str:
    """Return the case's place down to the street, never the precise address."""
    return "".join(p for p in (case.district, case.street) if p)


def citizen_view(case: Case, citizen: Citizen | None, *, hidden: bool, unmasked: bool) -> dict[str, Any]:
    """Return the citizen block for a page or export: hidden, masked or (after unmask) in full."""
    if hidden:
        return {"hidden": True, "name": "", "phone": "", "address": case.district or "", "masked": True}
    if case.anonymous or citizen is None:
        name, phone = "", ""
    else:
        name, phone = citizen.name or "", citizen.phone or ""
    if unmasked:
        return {"hidden": False, "name": name, "phone": phone, "address": case.address or street_level(case),
                "masked": False}
    return {"hidden": False, "name": mask_name(name), "phone": mask_phone(phone) if phone else "",
            "address": street_level(case), "masked": True}


def text_view(text: str, *, masked: bool) -> str:
    """Return the citizen's words with phone and ID numbers masked unless unmasked."""
    return mask_pii(text) if masked else text
