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

    await Notification.create(audience="lead_unit", unit_id=world.lead.id, channel=Channel.BACKOFFICE,
                              template="deny_extension", params={"number": gas.number})  # a kind with no wording
    assert f"驳回延期 {gas.number}" in (await handler.get("/notifications"))[1]  # says its action's label
    status, page = await handler.post("/notifications/read", {"newest": "99999999"})  # reaches only its own
    assert status == 200 and unread(page) is None
    assert unread((await dispatcher.get("/notifications"))[1]) == "1"  # the dispatchers' alert is still unread
    status, page = await dispatcher.post("/notifications/read", {"newest": "99999999"})
    assert status == 200 and unread(page) is None and f"紧急诉求 {gas.number}" in page
    assert '<td class="state">已读</td>' in page and '<td class="state">未读</td>' not in page
    assert await Notification.filter(role="dispatcher", status=NotificationStatus.PENDING).count() == 0
    status, page = await handler.post("/notifications/read", {"newest": "99999999"}, csrf=False)
    assert status == 403  # a cross-site form is refused


async def test_more_unread_than_one_page_shows_can_all_be_marked_read(city: City, login_as) -> None:
    await Notification.bulk_create([
        Notification(audience="dispatchers", role="dispatcher", channel=Channel.BACKOFFICE, template="return",
                     params={"number": f"8890-20261126-{i:05d}"}) for i in range(1, 151)])
    dispatcher = await login_as("dispatcher")
    status, page = await dispatcher.get("/notifications")
    assert unread(page) == "99+" and page.count('<td class="state">未读</td>') == 100  # the newest hundred
    assert "单位退单 8890-20261126-00150" in page and "8890-20261126-00050<" not in page
    status, page = await dispatcher.post("/notifications/read", {"newest": re.search(
        r'name="newest" value="(\d+)"', page).group(1)})
    assert unread(page) is None  # the fifty older ones too: nothing is left that no button clears
    assert await Notification.filter(status=NotificationStatus.PENDING).count() == 0
