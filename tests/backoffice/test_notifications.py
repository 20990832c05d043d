"""Staff notifications: an emergency reaches the dispatchers' page and header, a dispatch its unit, and reading them."""

from __future__ import annotations

import re

from storage.cases import CaseService, NewCase
from storage.lifecycle import Action, Actor, Role
from storage.models import Channel, Notification, NotificationStatus, Staff, Urgency

from .conftest import City, password_hash

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

    for level in ("order", "bulletin"):
        await Notification.create(audience="lead_unit", unit_id=world.lead.id, channel=Channel.BACKOFFICE,
                                  template="supervise", params={"number": gas.number, "level": level})
    page = (await handler.get("/notifications"))[1]
    assert f"督办单 {gas.number}" in page and f"通报 {gas.number}" in page  # two different things, told apart
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


async def test_each_reader_has_their_own_read_state_and_later_ones_stay_unread(city: City, login_as) -> None:
    async def alert(n: int) -> None:
        await Notification.create(audience="dispatchers", role="dispatcher", channel=Channel.BACKOFFICE,
                                  template="return", params={"number": f"8890-20261127-{n:05d}"})

    await Staff.create(username="dispatcher2", display_name="调度员二", password_hash=password_hash(),
                       roles=[Role.DISPATCHER.value])
    await alert(1)
    first, second = await login_as("dispatcher"), await login_as("dispatcher2")
    assert unread((await first.get("/notifications"))[1]) == "1"
    assert unread((await second.get("/notifications"))[1]) == "1"
    status, page = await first.post("/notifications/read", {"newest": "99999999"})
    assert unread(page) is None and '<td class="state">已读</td>' in page
    status, page = await second.get("/notifications")  # the colleague's reading is not theirs
    assert unread(page) == "1" and '<td class="state">未读</td>' in page

    await alert(2)  # after the first one read "everything": it is new to them all the same
    status, page = await first.get("/notifications")
    assert unread(page) == "1" and page.count('<td class="state">未读</td>') == 1
    assert unread((await second.get("/queues"))[1]) == "2"

    # A new dispatcher starts with what nobody of the role has read yet (the second alert), not the history.
    await Staff.create(username="dispatcher3", display_name="调度员三", password_hash=password_hash(),
                       roles=[Role.DISPATCHER.value])
    third = await login_as("dispatcher3")
    status, page = await third.get("/notifications")
    assert unread(page) == "1" and "8890-20261127-00002" in page and "8890-20261127-00001" in page
    assert page.count('<td class="state">未读</td>') == 1
