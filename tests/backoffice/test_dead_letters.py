"""Dead letters are visible to supervisors and can be sent again, with a logged reason."""

from __future__ import annotations

import datetime as dt

from storage import outbox
from storage.models import AuditEntry, Channel, Notification, NotificationStatus
from tests.backoffice.conftest import City

XSS = "<img src=x onerror=alert(1)>"


async def test_a_channel_failing_then_recovering_delivers_once(login_as, city: City) -> None:
    # A channel without a running sender in this app, so the test alone drives the outbox.
    row = await Notification.create(audience="citizen", channel=Channel.OPEN311, address="app:u1",
                                    template="dispatch", params={"number": "8890-1"})
    now = dt.datetime.now(dt.UTC)
    for _attempt in range(outbox.MAX_ATTEMPTS):  # the peer is down: every attempt fails until it is dead
        (claimed,) = await outbox.claim("sender", now, [Channel.OPEN311])
        await outbox.mark_failed(claimed, now, f"connection refused {XSS}")
        now += dt.timedelta(hours=2)
    assert (await Notification.get(id=row.id)).status == NotificationStatus.DEAD
    assert await outbox.claim("sender", now, [Channel.OPEN311]) == []

    supervisor = await login_as("supervisor")
    status, page = await supervisor.get("/outbox")
    assert status == 200 and "死信" in page and "connection refused" in page
    assert "<td>Open311</td><td>派单</td>" in page  # the channel and what it was, in words
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    status, page = await supervisor.post(f"/outbox/{row.id}/retry", {"reason": ""})
    assert status == 400
    status, page = await supervisor.post(f"/outbox/{row.id}/retry", {"reason": "网关已恢复"})
    assert status == 200 and "已重新排队" in page
    audit = await AuditEntry.get(action="outbox_retry")
    assert audit.reason == "网关已恢复" and audit.staff_id == city.staff["supervisor"].id

    # The channel works again: one claim, one delivery, and nothing more to send.
    (claimed,) = await outbox.claim("sender", dt.datetime.now(dt.UTC), [Channel.OPEN311])
    assert await outbox.mark_sent(claimed, dt.datetime.now(dt.UTC))
    assert await outbox.claim("sender", dt.datetime.now(dt.UTC) + dt.timedelta(days=1), [Channel.OPEN311]) == []
    stored = await Notification.get(id=row.id)
    assert stored.status == NotificationStatus.SENT and stored.attempts == 1
    status, _ = await supervisor.post(f"/outbox/{row.id}/retry", {"reason": "again"})
    assert status == 409  # a sent notification is never sent twice


async def test_other_roles_cannot_see_or_retry_dead_letters(login_as, city: City) -> None:
    row = await Notification.create(audience="citizen", channel=Channel.OPEN311, template="dispatch",
                                    status=NotificationStatus.DEAD)
    for role in ("operator", "handler", "dispatcher"):
        client = await login_as(role)
        status, _ = await client.get("/outbox")
        assert status == 403
        status, _ = await client.post(f"/outbox/{row.id}/retry", {"reason": "试试"})
        assert status == 403
    assert (await Notification.get(id=row.id)).status == NotificationStatus.DEAD
