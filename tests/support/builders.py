"""Builders that put units, people and cases in place directly, for tests to act on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from bot import uploads
from storage.deadlines import ensure_default_policies
from storage.lifecycle import Actor, CaseStatus, Role
from storage.models import (
    Attachment,
    Case,
    CaseAssignment,
    Channel,
    ChannelIdentity,
    Citizen,
    Staff,
    Unit,
    UnitKind,
)
from storage.numbering import tracking_code

_serial = count(1)

#: Statuses a case reaches before any unit is assigned; unit staff have no access to these.
UNASSIGNED = frozenset({CaseStatus.SUBMITTED, CaseStatus.ACCEPTED, CaseStatus.REJECTED, CaseStatus.MERGED})


@dataclass
class World:
    """A tiny city: a lead unit, another unit, a co-unit, a spare unit and one citizen."""

    lead: Unit
    other: Unit
    co: Unit
    spare: Unit
    citizen: Citizen

    def actor(self, role: Role, unit: Unit | None = None) -> Actor:
        """Return an actor with one role; unit staff belong to ``unit`` (the lead unit by default)."""
        if role is Role.CITIZEN:
            return Actor.citizen(self.citizen.id)
        if role is Role.SYSTEM:
            return Actor.system()
        units: frozenset[int] = frozenset()
        if role in (Role.HANDLER, Role.UNIT_HEAD):
            units = frozenset({(unit or self.lead).id})
        return Actor(roles=frozenset({role}), unit_ids=units, name=role.value)


async def make_world() -> World:
    """Create the units, policies and a citizen with a web-chat identity."""
    await ensure_default_policies()
    units = [
        await Unit.create(code=code, name_zh=zh, name_en=en, kind=UnitKind.BUREAU)
        for code, zh, en in (
            ("lead", "市住房和城乡建设局", "Housing Bureau"),
            ("other", "市交通运输局", "Transport Bureau"),
            ("co", "市城市管理局", "City Management Bureau"),
            ("spare", "市生态环境局", "Ecology Bureau"),
        )
    ]
    citizen = await Citizen.create(name="张三", phone="13812345678")
    await ChannelIdentity.create(citizen=citizen, channel=Channel.WEBCHAT, external_id="web-abc")
    return World(*units, citizen=citizen)


async def make_case(world: World, status: CaseStatus, now: dt.datetime | None = None, **fields: object) -> Case:
    """Create a case already in ``status``, assigned to the lead unit and the co-unit where it has units."""
    now = now or dt.datetime.now(dt.UTC)
    n = next(_serial)
    values: dict[str, object] = {
        "number": f"8890-20260101-{n:05d}", "tracking_code": tracking_code(),
        "title": "小区路灯不亮", "text": "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑。",
        "category": "城乡建设", "status": status, "channel": Channel.WEBCHAT,
        "citizen_id": world.citizen.id, "created_at": now,
    }
    dispatched = status not in UNASSIGNED
    if dispatched:
        values.update(
            lead_unit_id=world.lead.id, dispatched_at=now, due_at=now + dt.timedelta(days=10),
            return_due_at=now + dt.timedelta(days=2), sign_due_at=now + dt.timedelta(hours=2),
        )
    values.update(fields)
    updated_at = values.pop("updated_at", None)
    case = await Case.create(**values)
    if updated_at is not None:  # auto_now would overwrite it on create
        await Case.filter(id=case.id).update(updated_at=updated_at)
        case.updated_at = updated_at  # type: ignore[assignment]
    if dispatched:
        await CaseAssignment.create(case=case, unit=world.lead, lead=True)
        await CaseAssignment.create(case=case, unit=world.co, lead=False)
    return case


async def make_staff(username: str, roles: list[Role], unit: Unit | None = None) -> Staff:
    """Create a staff account (password hash is a placeholder: these tests do not log in)."""
    return await Staff.create(
        username=username, display_name=username, password_hash="!", roles=[r.value for r in roles], unit=unit
    )


async def attach(case: Case, data: bytes, name: str, directory: Path) -> Attachment:
    """Store a photo the way the bot does and give it to the case."""
    row = await uploads.store(data, name, directory)
    await Attachment.filter(id=row.id).update(case_id=case.id)
    return row
