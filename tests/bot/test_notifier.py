"""The outbox reaches the citizen: pushed to a connected socket, kept for the next visit otherwise."""

from __future__ import annotations

from bot.messages import Outbound
from bot.notifier import Hub, Notifier, render
from storage.cases import CaseService
from storage.lifecycle import Action, CaseStatus, Role
from storage.models import Notification, NotificationStatus
from tests.support.builders import make_case, make_world


class Socket:
    """A connected page: keeps what is pushed to it."""

    def __init__(self) -> None:
        self.got: list[list[Outbound]] = []

    async def __call__(self, messages: list[Outbound]) -> None:
        self.got.append(messages)


async def nothing_due(messages: list[Outbound]) -> None:
    """A connected page nothing is due for: a push to it is a bug."""
    raise AssertionError(f"pushed to the wrong citizen: {messages}")


async def _dispatched_notification() -> Notification:
    world = await make_world()
    case = await make_case(world, CaseStatus.ACCEPTED)
    await CaseService().apply(case.id, Action.DISPATCH, world.actor(Role.DISPATCHER), {"lead_unit": "lead"})
    return await Notification.get(channel="webchat", template="dispatch")


async def test_render_says_what_happened_in_plain_words(database_url: str) -> None:
    row = await _dispatched_notification()
    out = render(row)
    assert row.params["number"] in out.text and "市住房和城乡建设局" in out.text
    row.params = {**row.params, "reply": "<b>已修好</b>"}
    row.template = "approve_reply"
    out = render(row)
    assert "<b>已修好</b>" in out.text and out.choices[0].value == f"go:evaluate:{row.case_id}"
    row.template = "something_new"
    assert "已派单" in render(row).text


async def test_the_scheduler_rating_reminder_offers_the_rating_button(database_url: str) -> None:
    import datetime as dt

    from storage.deadlines import SHANGHAI
    from storage.scheduler import Scheduler

    world = await make_world()
    resolved = dt.datetime(2026, 12, 1, 10, tzinfo=SHANGHAI).astimezone(dt.UTC)
    case = await make_case(world, CaseStatus.RESOLVED, resolved_at=resolved)
    later = resolved + dt.timedelta(hours=30)
    await Scheduler(CaseService(clock=lambda: later), clock=lambda: later).tick()
    row = await Notification.get(case_id=case.id, template="rating_reminder")
    out = render(row)
    assert case.number in out.text and "评价" in out.text
    assert out.choices[0].value == f"go:evaluate:{case.id}"
    assert "rate" in render(row, "en").text


async def test_connected_citizens_get_it_pushed_once(database_url: str) -> None:
    row = await _dispatched_notification()
    socket = Socket()
    hub = Hub()
    hub.add(row.address, socket)
    notifier = Notifier(hub)
    assert await notifier.drain_once() == 1
    assert await notifier.drain_once() == 0
    assert len(socket.got) == 1
    assert (await Notification.get(id=row.id)).status == NotificationStatus.SENT


async def test_absent_citizens_get_it_at_their_next_visit(database_url: str) -> None:
    row = await _dispatched_notification()
    hub = Hub()
    hub.add("another-citizen", nothing_due)
    notifier = Notifier(hub)
    assert await notifier.drain_once() == 0
    row = await Notification.get(id=row.id)
    # Not even claimed and put back: an absent citizen's rows cost nothing until the visit.
    assert row.status == NotificationStatus.PENDING and row.claimed_until is None and row.claimed_by is None
    assert row.next_attempt_at is None and row.attempts == 0
    socket = Socket()
    assert await notifier.deliver_pending(row.address, socket) == 1
    assert await notifier.deliver_pending(row.address, socket) == 0
    assert len(socket.got) == 1 and (await Notification.get(id=row.id)).status == NotificationStatus.SENT


async def test_a_citizen_connected_to_another_process_gets_it_from_that_process(database_url: str) -> None:
    row = await _dispatched_notification()
    socket = Socket()
    here, there = Hub(), Hub()  # two processes: the citizen's socket is on the second
    there.add(row.address, socket)
    assert await Notifier(here).drain_once() == 0  # the first never takes it (and never delays it)
    assert (await Notification.get(id=row.id)).claimed_by is None
    assert await Notifier(there).drain_once() == 1
    assert len(socket.got) == 1 and (await Notification.get(id=row.id)).status == NotificationStatus.SENT


async def test_many_connected_citizens_are_claimed_in_chunks(database_url: str) -> None:
    from storage import outbox

    row = await _dispatched_notification()
    socket = Socket()
    hub = Hub()
    for i in range(outbox.MAX_ADDRESSES + 20):  # the row's citizen comes after the first chunk
        hub.add(f"idle-{i}", nothing_due)
    hub.add(row.address, socket)
    assert await Notifier(hub).drain_once() == 1 and len(socket.got) == 1


async def test_a_citizen_who_chose_english_gets_notices_in_english(database_url: str) -> None:
    from storage.models import DialogSession

    row = await _dispatched_notification()
    await DialogSession.create(channel="webchat", user_key=row.address, flow="menu", step="start", language="en")
    socket = Socket()
    assert await Notifier(Hub()).deliver_pending(row.address, socket) == 1
    text = socket.got[0][0].text
    assert text.startswith("Your appeal") and "went to" in text and "已交由" not in text
