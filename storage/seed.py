"""The demo city 江澜市: units, dispatch catalogue, one account per role and cases in every status."""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from .accounts import create_staff
from .cases import CaseService, NewCase
from .deadlines import ensure_default_policies
from .knowledge import seed_knowledge
from .lifecycle import OPEN_STATUSES, Action, Actor, CaseStatus, Rating, Role
from .models import (
    Case,
    CaseKind,
    CatalogueEntry,
    Channel,
    ChannelIdentity,
    Citizen,
    Notification,
    NotificationStatus,
    Unit,
    UnitKind,
    Urgency,
)

DEMO_DIR = Path(__file__).with_name("demo")
CATEGORIES = ("城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输")

#: Platform accounts of the demo: username, display name, roles.
PLATFORM_STAFF = (
    ("operator", "刘话务", (Role.OPERATOR,)),
    ("dispatcher", "王派单", (Role.DISPATCHER,)),
    ("supervisor", "赵督办", (Role.SUPERVISOR,)),
    ("auditor", "钱审计", (Role.AUDITOR,)),
)

#: How many demo cases end in each status (roughly a live city's mix), summing to 300.
STATUS_MIX: dict[CaseStatus, int] = {
    CaseStatus.SUBMITTED: 18, CaseStatus.ACCEPTED: 12, CaseStatus.REJECTED: 10, CaseStatus.MERGED: 12,
    CaseStatus.DISPATCHED: 25, CaseStatus.RETURNED: 8, CaseStatus.IN_PROGRESS: 45,
    CaseStatus.PENDING_REVIEW: 20, CaseStatus.RESOLVED: 40, CaseStatus.EVALUATED: 60,
    CaseStatus.REOPENED: 10, CaseStatus.ARCHIVED: 40,
}

_OPENERS = ("", "您好，", "市长您好！", "你好，", "尊敬的领导：")
_CLOSERS = ("", "希望尽快处理，谢谢！", "盼复。", "麻烦相关部门重视一下。", "")


class DemoDataError(ValueError):
    """The demo data files are inconsistent."""


@dataclass(frozen=True)
class SeedReport:
    """What seeding created."""

    units: int
    catalogue: int
    staff: list[tuple[str, str, str]]  # username, roles, unit
    cases: int


def load_city(path: Path = DEMO_DIR / "city.json") -> dict[str, Any]:
    """Load and validate the city file, naming the first bad entry."""
    data = json.loads(path.read_text(encoding="utf-8"))
    codes = [u["code"] for u in data["units"]]
    if len(set(codes)) != len(codes):
        raise DemoDataError(f"{path}: duplicate unit codes")
    for unit in data["units"]:
        if unit["parent"] not in (None, *codes):
            raise DemoDataError(f"{path}: unit {unit['code']} has unknown parent {unit['parent']}")
        UnitKind(unit["kind"])
    for entry in data["catalogue"]:
        if entry["unit"] not in codes or entry["category"] not in CATEGORIES:
            raise DemoDataError(f"{path}: bad catalogue entry {entry}")
    return data


def load_texts(path: Path = DEMO_DIR / "cases.json") -> list[dict[str, Any]]:
    """Load the demo appeal texts."""
    return json.loads(path.read_text(encoding="utf-8"))


async def seed_units(city: dict[str, Any]) -> dict[str, Unit]:
    """Create the unit hierarchy and the dispatch catalogue."""
    units: dict[str, Unit] = {}
    for u in city["units"]:  # parents come before their children in the file
        units[u["code"]] = await Unit.create(
            code=u["code"], name_zh=u["name_zh"], name_en=u.get("name_en", ""), kind=UnitKind(u["kind"]),
            parent=units.get(u["parent"]) if u["parent"] else None, matters=u.get("matters", []),
            areas=u.get("areas", []), phone=u.get("phone", ""),
        )
    for entry in city["catalogue"]:
        await CatalogueEntry.create(category=entry["category"], district=entry["district"], unit=units[entry["unit"]])
    return units


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def _vary(rng: random.Random, text: str) -> str:
    return f"{rng.choice(_OPENERS)}{text}{rng.choice(_CLOSERS)}"


async def _citizen(rng: random.Random, i: int) -> tuple[Citizen, Channel]:
    channel = rng.choice([Channel.WEBCHAT, Channel.WEBCHAT, Channel.TELEGRAM, Channel.PHONE, Channel.OPEN311])
    surname = rng.choice("王李张刘陈杨黄赵吴周徐孙马朱胡")
    citizen = await Citizen.create(
        name=f"{surname}{rng.choice(['先生', '女士', '阿姨', '师傅'])}",
        phone=f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
    )
    if channel is not Channel.PHONE:
        await ChannelIdentity.create(citizen=citizen, channel=channel, external_id=f"demo-{channel.value}-{i}")
    return citizen, channel


async def _drive(
    service: CaseService, clock: _Clock, case: Case, target: CaseStatus, staff: dict[str, Actor],
    handler: Actor, lead_unit: str, other_unit: str, parent: Case | None, rng: random.Random, reply: str,
) -> None:
    """Take a submitted case along the usual path until it reaches ``target``."""
    async def step(action: Action, actor: Actor, payload: dict[str, Any] | None = None, hours: float = 1) -> None:
        clock.now += dt.timedelta(hours=hours * rng.uniform(0.5, 1.5))
        await service.apply(case.id, action, actor, payload or {})

    if target is CaseStatus.SUBMITTED:
        return
    if target is CaseStatus.REJECTED:
        await step(Action.REJECT, staff["dispatcher"], {
            "reject_class": "other_channel", "reason": "该事项已进入诉讼程序，请通过人民法院依法解决。"})
        return
    if target is CaseStatus.MERGED and parent is not None:
        await step(Action.MERGE, staff["dispatcher"], {"parent": parent.number, "reason": "同一事项重复反映"})
        return
    await step(Action.ACCEPT, staff["dispatcher"], hours=0.5)
    if target in (CaseStatus.ACCEPTED, CaseStatus.MERGED):
        return
    wrongly = target is CaseStatus.RETURNED  # a mis-dispatch that the unit sends back
    await step(Action.DISPATCH, staff["dispatcher"], {"lead_unit": other_unit if wrongly else lead_unit})
    if target is CaseStatus.DISPATCHED:
        return
    if wrongly:
        other = await Unit.get(code=other_unit)
        await step(Action.RETURN, Actor(roles=frozenset({Role.UNIT_HEAD}), unit_ids=frozenset({other.id})),
                   {"reason": "该事项不属于本单位职责范围，建议改派。"})
        return
    await step(Action.SIGN, handler, hours=1)
    await step(Action.PROGRESS_NOTE, handler, {"note": "已安排工作人员现场核实情况。"}, hours=20)
    if target is CaseStatus.IN_PROGRESS:
        return
    await step(Action.SUBMIT_REPLY, handler, {"reply": reply, "solved": True}, hours=30)
    if target is CaseStatus.PENDING_REVIEW:
        return
    await step(Action.APPROVE_REPLY, staff["supervisor"], hours=3)
    if target is CaseStatus.RESOLVED:
        return
    citizen = Actor.citizen(case.citizen_id or 0)
    if target is CaseStatus.REOPENED:
        await step(Action.EVALUATE, citizen, {"rating": "dissatisfied", "comment": "问题没有真正解决"}, hours=10)
        await step(Action.REOPEN, citizen, {"reason": "问题仍然存在"}, hours=0.1)
        return
    rating = rng.choices(list(Rating), weights=[45, 35, 12, 6, 2])[0]
    if case.channel is Channel.PHONE:
        await step(Action.CALLBACK, staff["operator"], {
            "rating": rating.value, "contacted": True, "solved": rating not in (Rating.DISSATISFIED,
                                                                                  Rating.VERY_DISSATISFIED)
        }, hours=24)
    else:
        await step(Action.EVALUATE, citizen, {"rating": rating.value}, hours=12)
    if target is CaseStatus.ARCHIVED:
        await step(Action.ARCHIVE, staff["supervisor"], hours=24 * 7)


async def seed_demo(password: str, cases: int = 300, seed: int = 8890) -> SeedReport:
    """Create the demo city once: refuse to run on a database that already has units."""
    if await Unit.exists():
        raise DemoDataError("数据库中已有单位数据，演示数据只能在空数据库上创建 / the database already has units")
    rng = random.Random(seed)
    city, texts = load_city(), load_texts()
    await ensure_default_policies()
    async with in_transaction():
        units = await seed_units(city)
        await seed_knowledge(units)
        accounts: list[tuple[str, str, str]] = []
        staff: dict[str, Actor] = {}
        for username, name, roles in PLATFORM_STAFF:
            s = await create_staff(username, password, roles, display_name=name)
            staff[username] = Actor(roles=frozenset(roles), staff_id=s.id, name=username)
            accounts.append((username, ",".join(roles), ""))
        handlers: dict[str, Actor] = {}
        for code in sorted({t["unit"] for t in texts}):
            s = await create_staff(f"handler-{code}", password, [Role.HANDLER], f"{units[code].name_zh}承办人", code)
            handlers[code] = Actor(roles=frozenset({Role.HANDLER}), staff_id=s.id,
                                   unit_ids=frozenset({units[code].id}), name=f"handler@{code}")
            accounts.append((s.username, Role.HANDLER.value, code))
        head_unit = max(handlers, key=lambda c: sum(t["unit"] == c for t in texts))
        await create_staff("unit-head", password, [Role.UNIT_HEAD], f"{units[head_unit].name_zh}负责人", head_unit)
        accounts.append(("unit-head", Role.UNIT_HEAD.value, head_unit))
    plan = [status for status, n in STATUS_MIX.items() for _ in range(n)]
    scale = cases / len(plan)
    plan = [plan[int(i / scale)] for i in range(cases)] if cases != len(plan) else plan
    rng.shuffle(plan)
    clock = _Clock()
    service = CaseService(clock=clock)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=45)
    first_of_template: dict[int, Case] = {}
    previous: Case | None = None
    for i, target in enumerate(plan):
        k = i % len(texts)
        t = texts[k]
        citizen, channel = await _citizen(rng, i)
        # Early statuses are recent; archived cases are old.
        age = {CaseStatus.SUBMITTED: 0.02, CaseStatus.ACCEPTED: 0.05, CaseStatus.DISPATCHED: 0.1}.get(target, 1.0)
        clock.now = dt.datetime.now(dt.UTC) - dt.timedelta(days=45 * age * rng.uniform(0.2, 1.0))
        clock.now = max(clock.now, start)
        new = NewCase(
            text=_vary(rng, t["text"]), title=t["title"], channel=channel, citizen_id=citizen.id,
            category=t["category"], kind=CaseKind(t["kind"]), urgency=Urgency(t["urgency"]),
            address=t["address"], district=t["district"], street=t["street"],
            # A map pin comes from a chat channel, never from a phone call.
            latitude=None if channel is Channel.PHONE else t.get("latitude"),
            longitude=None if channel is Channel.PHONE else t.get("longitude"),
            anonymous=rng.random() < 0.08, confidential=rng.random() < 0.05,
            suggestion={"category": t["category"], "unit": t["unit"]},
        )
        actor = staff["operator"] if channel is Channel.PHONE else Actor.citizen(citizen.id)
        case = await service.submit(new, actor)
        other = "jtj" if t["unit"] != "jtj" else "zjj"
        # A repeat is merged into an earlier appeal of the same matter that is still being handled (a closed one
        # cannot take it), else into the latest one still open.
        await _drive(service, clock, case, target, staff, handlers[t["unit"]], t["unit"], other,
                     first_of_template.get(k, previous), rng, t["reply"])
        if target in OPEN_STATUSES:
            first_of_template.setdefault(k, case)
            previous = case
    # The demo's history was delivered long ago: nothing from it should be sent now.
    await Notification.all().update(status=NotificationStatus.SENT, sent_at=dt.datetime.now(dt.UTC))
    return SeedReport(units=len(units), catalogue=len(city["catalogue"]), staff=accounts, cases=len(plan))



async def is_seeded() -> bool:
    """Tell whether the database already holds a city."""
    return await Unit.exists()
