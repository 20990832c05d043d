"""Who sees which cases: platform staff see all, unit staff only their units' active assignments."""

from __future__ import annotations

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from storage.errors import CaseNotFound
from storage.lifecycle import Actor, Role
from storage.models import AuditEntry, Case, CaseAssignment, Staff

#: Roles that see every case (read-only for the auditor: the transition table gives it no action).
PLATFORM_ROLES = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR})


def actor_for(staff: Staff) -> Actor:
    """Build the lifecycle actor of a staff member."""
    units = frozenset({staff.unit_id}) if staff.unit_id is not None else frozenset()  # type: ignore[attr-defined]
    return Actor(roles=staff.role_set(), staff_id=staff.id, unit_ids=units, name=staff.display_name)


def sees_all(actor: Actor) -> bool:
    """Tell whether the actor has a platform role that sees every case."""
    return bool(actor.roles & PLATFORM_ROLES)


def visible_cases(actor: Actor) -> QuerySet[Case]:
    """Return the cases this actor may see at all."""
    if sees_all(actor):
        return Case.all()
    if not actor.unit_ids:
        return Case.filter(id__in=[])
    active = CaseAssignment.filter(unit_id__in=sorted(actor.unit_ids), active=True).values("case_id")
    return Case.filter(id__in=Subquery(active))


def hides_citizen(case: Case, actor: Actor) -> bool:
    """Tell whether the citizen's identity must stay hidden from this actor (保密件 for units)."""
    return case.confidential and not sees_all(actor)


async def visible_case(actor: Actor, case_id: int) -> Case:
    """Return a case the actor may see, or raise CaseNotFound (and log the attempt) otherwise."""
    case = await visible_cases(actor).filter(id=case_id).first()
    if case is None:
        if await Case.exists(id=case_id):
            await AuditEntry.create(
                staff_id=actor.staff_id, action="case_denied", target=str(case_id),
                data={"units": sorted(actor.unit_ids)},
            )
        raise CaseNotFound()
    return case
