"""A unit of work: queued writes commit together, a lost compare-and-set undoes all of them, hooks follow commits."""

from __future__ import annotations

import asyncio

import pytest
from tortoise import connections

from storage import batch
from storage.cases import CaseService, NewCase
from storage.lifecycle import Actor
from storage.models import Case, CaseEvent, Channel, ChannelIdentity, Citizen, Notification
from storage.unit_of_work import NothingChanged, UnitOfWork

RENAME = "UPDATE citizen SET name = ? WHERE id = ?"
CLAIM = "UPDATE citizen SET name = ? WHERE id = ? AND name IS NULL"


async def test_queued_writes_commit_together_then_the_hooks_run(database_url: str) -> None:
    first, second = await Citizen.create(), await Citizen.create()
    writes, seen = UnitOfWork(), []
    writes.execute(RENAME, ["甲", first.id])
    writes.execute(RENAME, lambda: ["乙", second.id])  # values read when the write runs
    writes.after(lambda: seen.append("committed"))
    assert (await Citizen.get(id=first.id)).name is None and not seen  # queued, not written
    await writes.commit()
    assert [c.name for c in await Citizen.filter(id__in=[first.id, second.id]).order_by("id")] == ["甲", "乙"]
    assert seen == ["committed"] and len(writes) == 0


async def test_a_lost_compare_and_set_undoes_every_write_and_runs_no_hook(database_url: str) -> None:
    citizen, taken, bystander = await Citizen.create(), await Citizen.create(name="已有"), await Citizen.create()
    writes, seen = UnitOfWork(), []
    writes.execute(RENAME, ["不该留下", citizen.id])
    writes.execute(CLAIM, ["抢", taken.id], must_change=True)  # somebody else got there first
    writes.after(lambda: seen.append("committed"))
    others = batch.execute(RENAME, ["旁人", bystander.id])  # another caller's statement, maybe in the same flush
    outcome, other = await asyncio.gather(writes.commit(), others, return_exceptions=True)
    assert isinstance(outcome, NothingChanged) and other == (1, [])
    assert (await Citizen.get(id=bystander.id)).name == "旁人"
    assert (await Citizen.get(id=citizen.id)).name is None and (await Citizen.get(id=taken.id)).name == "已有"
    assert not seen


async def test_a_case_queued_on_a_unit_exists_only_once_it_commits(database_url: str) -> None:
    citizen = await Citizen.create()
    await ChannelIdentity.create(citizen=citizen, channel=Channel.WEBCHAT, external_id="web-1")
    writes = UnitOfWork()
    case = await CaseService().submit(NewCase(text="路灯不亮", channel=Channel.WEBCHAT, citizen_id=citizen.id,
                                              suggestion={"category": "城乡建设"}),
                                      Actor.citizen(citizen.id), writes)
    assert case.number.endswith("-00001") and case.id is None  # numbered for the reply; not yet written
    assert await Case.all().count() == 0
    await writes.commit()
    stored = await Case.get(id=case.id)
    assert (stored.number, stored.tracking_code, stored.suggestion) == (case.number, case.tracking_code,
                                                                         {"category": "城乡建设"})
    assert stored.created_at == case.created_at and stored.updated_at is not None
    assert await CaseEvent.filter(case_id=case.id, action="submit").count() == 1
    receipt = await Notification.get(case_id=case.id)
    assert (receipt.address, receipt.params["number"]) == ("web-1", case.number)


async def test_an_undone_unit_leaves_no_case_and_the_next_case_skips_its_number(database_url: str) -> None:
    citizen = await Citizen.create()
    service, writes = CaseService(), UnitOfWork()
    await service.submit(NewCase(text="路灯不亮", channel=Channel.WEBCHAT, citizen_id=citizen.id),
                         Actor.citizen(citizen.id), writes)
    writes.execute(CLAIM, ["x", citizen.id + 1000], must_change=True)  # e.g. the session was taken over
    with pytest.raises(NothingChanged):
        await writes.commit()
    assert await Case.all().count() == 0 and await Notification.all().count() == 0
    later = await service.submit(NewCase(text="路灯还是不亮", channel=Channel.WEBCHAT, citizen_id=citizen.id),
                                 Actor.citizen(citizen.id))
    assert later.number.endswith("-00002")  # a number handed out for a reply is never handed out again


async def test_a_hook_that_fails_leaves_the_commit_standing_and_the_other_hooks_run(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    citizen = await Citizen.create()
    writes, seen = UnitOfWork(), []
    writes.execute(RENAME, ["甲", citizen.id])

    def broken() -> None:
        raise RuntimeError("an in-memory index refused the case")

    writes.after(broken)
    writes.after(lambda: seen.append("second hook"))
    await writes.commit()  # no error: the change is committed and the caller must say so
    assert (await Citizen.get(id=citizen.id)).name == "甲" and seen == ["second hook"]
    assert "after-commit hook failed" in caplog.text


async def test_a_submission_run_again_alone_after_its_batch_failed_numbers_afresh(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if connections.get("default").capabilities.dialect != "sqlite":
        pytest.skip("the group commit is SQLite's")
    citizen = await Citizen.create()
    service = CaseService()

    def submit(text: str):  # noqa: ANN202
        return service.submit(NewCase(text=text, channel=Channel.WEBCHAT, citizen_id=citizen.id),
                              Actor.citizen(citizen.id))

    def ends_the_transaction(db) -> None:  # e.g. a full disk: the whole batch's transaction is gone
        db.execute("ROLLBACK")
        raise RuntimeError("disk I/O error")

    first = await submit("路灯不亮")  # the day's counter and the policies exist from here on
    ran: list[int] = []
    alone = batch._alone
    batches_run_again: list[int] = []

    def run_again(db, items):  # noqa: ANN001, ANN202 - the group commit's own fallback, watched
        batches_run_again.append(len(items))
        return alone(db, items)

    monkeypatch.setattr(batch, "_alone", run_again)

    def counted(db) -> None:
        ran.append(1)
        ends_the_transaction(db)

    # Queued one after the other before the flush starts: one batch, whose transaction the second item ends,
    # so the group commit runs each item again alone.
    second, failed = await asyncio.gather(submit("井盖丢了"), batch.unit(counted, lambda: asyncio.sleep(0)),
                                          return_exceptions=True)
    assert isinstance(failed, RuntimeError) and len(ran) == 2  # in the batch, then alone
    assert batches_run_again == [2]  # the submission was in that batch and ran again alone too
    third = await submit("垃圾没人收")
    assert [first.number[-5:], second.number[-5:], third.number[-5:]] == ["00001", "00002", "00003"]
    assert [c.number for c in await Case.all().order_by("id")] == [first.number, second.number, third.number]
