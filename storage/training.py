"""Staff's dispatch decisions as training data: the final category beside what the classifier suggested."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .lifecycle import Action
from .models import AuditEntry, Case, CaseEvent


@dataclass(frozen=True)
class Decision:
    """One dispatched case: its words, the category staff chose and the one suggested."""

    title: str
    body: str
    label: str
    suggested: str

    @property
    def corrected(self) -> bool:
        """Tell whether staff chose another category than the suggestion."""
        return bool(self.suggested) and self.suggested != self.label


async def dispatch_decisions(only_corrections: bool = False, mask: Callable[[str], str] = str) -> list[Decision]:
    """Return the final category of every dispatched case; confidential cases never leave."""
    case_ids = set(await CaseEvent.filter(action=Action.DISPATCH).values_list("case_id", flat=True))
    out = []
    for case in await Case.filter(id__in=case_ids, category__isnull=False, confidential=False).order_by("id"):
        decision = Decision(
            title=mask(case.title), body=mask(case.text), label=case.category or "",
            suggested=str((case.suggestion or {}).get("category") or ""),
        )
        if decision.corrected or not only_corrections:
            out.append(decision)
    return out


async def export_decisions(
    path: Path, staff_id: int, reason: str, only_corrections: bool = False, mask: Callable[[str], str] = str
) -> int:
    """Write decisions as a UTF-8 CSV (title, body, label, suggested) and log who exported them and why."""
    if not reason.strip():
        raise ValueError("an export needs a reason")
    decisions = await dispatch_decisions(only_corrections, mask)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["title", "body", "label", "suggested"])
        for d in decisions:
            writer.writerow([d.title, d.body, d.label, d.suggested])
    await AuditEntry.create(
        staff_id=staff_id, action="export_training", target=str(path), reason=reason,
        data={"rows": len(decisions), "only_corrections": only_corrections},
    )
    return len(decisions)
