"""Staff notifications: an emergency reaches the dispatchers' page and header, a dispatch its unit, and reading them."""

from __future__ import annotations

import re

from storage.cases import CaseService, NewCase
from storage.lifecycle import Action, Actor, Role
from storage.models import Channel, Notification, NotificationStatus, Urgency

from .conftest import City

UNREAD = re.compile(r'class="count unread-count">(\d+\+?)<')


def unread(page: str) -> str | None:
    """Return the header's unread count, or None when it shows none."""
    m = UNREAD.search(page)
    return m.group(1) if m else None


async def test_an_emergency_and_a_dispatch_reach_the_staff_they_are_for_until_read(city: City, login_as) -> None:
    service = CaseService(hotline_prefix="8890")
    world = city.world
    gas = await service.submit(NewCase(text="楼道里煤气味很重，邻居家敲门没人应", channel=Channel.WEBCHAT,
                                       citizen_id=world.citizen.id, urgency=Urgency.EMERGENCY),
                               Actor.citizen(world.citizen.id))
    dispatcher, handler, other = await login_as("dispatcher"), await login_as("handler"), await login_as(
        "other-handler")
    status, page = await dispatcher.get("/notifications")
    assert status == 200 and f"紧急诉求 {gas.number}，请立即处理" in page and f'href="/cases/{gas.id}"' in page
    assert unread(page) == "1"  # in the header of every page
    assert unread((await dispatcher.get("/queues"))[1]) == "1"
    assert gas.number not in (await handler.get("/notifications"))[1]  # not for a unit's staff

    await service.apply(gas.id, Action.ACCEPT, world.actor(Role.DISPATCHER))
    await service.apply(gas.id, Action.DISPATCH, world.actor(Role.DISPATCHER), {"lead_unit": world.lead.code})
    status, page = await handler.get("/notifications")
    assert f"新派单 {gas.number}，请签收" in page and unread(page) == "1"  # the lead unit's staff
    assert gas.number not in (await other.get("/notifications"))[1] and unread(
        (await other.get("/notifications"))[1]) is None  # not another unit's

    status, page = await dispatcher.post("/notifications/read", [("id", str(n)) for n in await Notification.filter(
        role="dispatcher").values_list("id", flat=True)] + [("id", "99999999"), ("id", "x")])
    assert status == 200 and unread(page) is None and "已读" in page and f"紧急诉求 {gas.number}" in page
    assert await Notification.filter(role="dispatcher", status=NotificationStatus.PENDING).count() == 0
    status, page = await handler.post("/notifications/read", [("id", str(n)) for n in await Notification.filter(
        role="dispatcher").values_list("id", flat=True)])  # another's ids change nothing of theirs
    assert unread(page) == "1"
    status, page = await handler.post("/notifications/read", {"id": "1"}, csrf=False)
    assert status == 403  # a cross-site form is refused
