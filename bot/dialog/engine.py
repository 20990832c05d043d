"""The dialog engine: lease the user's session, run global commands and one step, save, reply."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import json
import logging
import weakref
from collections import Counter
from collections.abc import Mapping
from typing import Any

from tortoise.transactions import in_transaction

from storage import batch, jsontext
from storage.models import DialogSession
from storage.unit_of_work import NothingChanged, UnitOfWork

from ..messages import Inbound, Outbound
from ..services import Services
from ..texts import t
from . import session as sessions
from .flow import MENU, AlreadyRecorded, Ctx, Flow, Reask, Receipt, split_target
from .parsers import command_word

log = logging.getLogger("appeals.bot")

COMMANDS: dict[str, str] = {
    "取消": "cancel", "cancel": "cancel", "退出": "cancel", "/cancel": "cancel",
    "菜单": "menu", "menu": "menu", "主菜单": "menu", "/start": "menu", "/menu": "menu",
    "帮助": "help", "help": "help", "?": "help", "/help": "help",
    "人工": "agent", "人工服务": "agent", "转人工": "agent", "人工客服": "agent", "我要人工": "agent",
    "我要人工客服": "agent", "找人工": "agent", "agent": "agent", "human": "agent",
    "english": "lang:en", "/english": "lang:en",
    "中文": "lang:zh-CN", "chinese": "lang:zh-CN", "/chinese": "lang:zh-CN",
}
MAX_HOPS = 8  # steps a single message may pass through (skipped prompts)


class ConcurrentUpdate(RuntimeError):
    """The lease was lost while a step ran; the change was rolled back."""


def _global_word(inbound: Inbound) -> str | None:
    """Return the global command a typed message is (取消, 菜单, 帮助 …), if it is one."""
    return COMMANDS.get(command_word(inbound))


MAX_SCAN = 2000  # characters of a message checked for emergency words (a longer one is refused anyway)


class DialogEngine:
    """Turn one inbound message into replies, with the session row as the only state."""

    def __init__(
        self, services: Services, flows: Mapping[str, Flow], *, idle: dt.timedelta = dt.timedelta(minutes=30),
        lease: dt.timedelta = dt.timedelta(seconds=30), wait: float = 10.0, language: str = "zh-CN",
        cached_channels: frozenset[str] | None = None,
    ) -> None:
        self.services = services
        self.flows = dict(flows)
        self.idle = idle
        self.lease = lease
        self.wait = wait
        self.language = language
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._rows = sessions.RowCache()
        # Channels whose next message most likely comes to this process again (None: all). With several worker
        # processes only web chat's sockets stay put; a cached row of another channel is mostly stale there, and a
        # step run on a stale row is run twice.
        self.cached_channels = cached_channels
        self._new: dict[str, None] = {}  # users whose identity their last message created, oldest first
        self.stats: Counter[str] = Counter()  # steps, busy, errors of this process, for /metrics

    async def handle(self, inbound: Inbound, receipt: Receipt | None = None) -> list[Outbound]:
        """Answer one message; messages of one user are handled one at a time across processes.

        ``receipt``: the channel's record of the message, committed with the step's save (see ``Receipt``).
        """
        key = f"{inbound.channel}\x00{inbound.user_key}"
        lock = self._local.get(key)
        if lock is None:
            lock = self._local[key] = asyncio.Lock()
        async with lock:  # within a process: queue, do not poll the database
            if inbound.resume:
                try:
                    shown = await self._peek(inbound)
                except Exception:  # e.g. the database is locked or gone (first contact writes): say so politely
                    return self._failed(inbound, self.language, "look-up")
                if shown is not None:
                    return shown
            cached = self.cached_channels is None or inbound.channel in self.cached_channels
            known = self._rows.get(inbound.channel, inbound.user_key) if cached else None
            if known is not None and known.citizen_id is not None:
                # This process saved the row last (as far as it knows): run the step on the cached row
                # without a lease; the save is a compare-and-set on the version (and a free lease), so
                # a row changed elsewhere meanwhile rolls the step back and it runs again under the lease.
                row = copy.copy(known)
                row.slots = jsontext.copy(known.slots)
                self.stats["steps"] += 1
                try:
                    return await self._run(row, None, inbound, receipt)
                except AlreadyRecorded:
                    raise  # the channel answers the redelivery
                except ConcurrentUpdate:  # the session changed elsewhere since: run it again under the lease
                    self.stats["steps"] -= 1
                    self.stats["retried"] += 1
                    self._rows.drop(inbound.channel, inbound.user_key)
                except Exception:
                    if receipt is not None:
                        receipt.used = False  # (a transaction around the save may have failed after it)
                    return self._failed(inbound, row.language)
            token = sessions.new_token()
            try:
                held = await sessions.take(inbound.channel, inbound.user_key, token, self.services.clock, self.lease,
                                           self.wait, self.language)
            except Exception:  # e.g. the database is locked or gone: nothing changed, say so politely
                return self._failed(inbound, self.language, "lease")
            if held is None:
                self.stats["busy"] += 1
                return [Outbound(t("busy", self.language))]
            if getattr(held, "new_identity", False):
                self._mark_new(key)
            self.stats["steps"] += 1
            try:
                return await self._run(held, token, inbound, receipt)
            except AlreadyRecorded:
                with contextlib.suppress(Exception):  # otherwise the lease simply runs out
                    await sessions.release(held, token)
                raise  # the channel answers the redelivery
            except Exception:
                if receipt is not None:
                    receipt.used = False  # (a transaction around the save may have failed after it)
                replies = self._failed(inbound, held.language)
                try:
                    await sessions.release(held, token)
                except Exception:  # the lease then simply runs out
                    log.exception("dialog lease release failed for %s", inbound.channel)
                return replies

    def _failed(self, inbound: Inbound, language: str, doing: str = "step") -> list[Outbound]:
        """Count and log a failure (called in its ``except``), forget the cached row; return the apology."""
        self.stats["errors"] += 1
        log.exception("dialog %s failed for %s", doing, inbound.channel)
        self._rows.drop(inbound.channel, inbound.user_key)
        return [Outbound(t("error", language))]

    def new_identity(self, channel: str, user_key: str) -> bool:
        """Return (once) whether handling this user's last message created their identity on ``channel``.

        Then no notification can be waiting for them, so a channel may skip looking for pending ones.
        """
        key = f"{channel}\x00{user_key}"
        return self._new.pop(key, False) is None

    def _mark_new(self, key: str) -> None:
        """Remember that this user's identity was created just now (see ``new_identity``)."""
        self._new[key] = None
        if len(self._new) > 10_000:  # channels that never ask are forgotten, oldest first
            del self._new[next(iter(self._new))]

    async def _peek(self, inbound: Inbound) -> list[Outbound] | None:
        """Show the current question without the lease (creating the session on first contact, unleased).

        None when showing it would change anything: the caller then takes the lease and runs the step.
        """
        now = self.services.clock()
        found = await sessions.peek_or_create(inbound.channel, inbound.user_key, self.language, now)
        if found is None:
            return None
        row, created = found
        if created:
            if getattr(row, "new_identity", False):
                self._mark_new(f"{inbound.channel}\x00{inbound.user_key}")
            self._rows.put(row)  # the next step saves with one compare-and-set
        if row.flow not in self.flows or row.citizen_id is None:
            return None
        if row.expires_at is not None and now > row.expires_at and row.flow != "menu":
            return None
        ctx = Ctx(self.services, inbound.channel, inbound.user_key, row.citizen_id, row.language,
                  dict(row.slots or {}), now)
        replies, changed = await self._ask_again(ctx, row.flow, row.step)
        return None if changed else replies

    async def _run(self, row: DialogSession, token: str | None, inbound: Inbound,
                   receipt: Receipt | None = None) -> list[Outbound]:
        slots: dict[str, Any] = dict(row.slots or {})
        if inbound.key and inbound.key == row.last_inbound_key:
            await sessions.release(row, token)  # a redelivery: answer as before, change nothing
            return [Outbound.from_json(o) for o in slots.get("_out", [])]
        now = self.services.clock()
        ctx = Ctx(self.services, inbound.channel, inbound.user_key, row.citizen_id or 0, row.language, slots, now,
                  receipt=receipt)
        flow, step = row.flow, row.step
        if flow not in self.flows:
            flow, step = "menu", "start"
        if inbound.text and not inbound.choice:  # at any step, even one asking for a place or a phone number
            self._warn_if_emergency(ctx, inbound.text, flow)
        expired = row.expires_at is not None and now > row.expires_at and flow != "menu"
        if inbound.resume and not expired:
            replies, changed = await self._ask_again(ctx, flow, step)
            if changed:  # the prompt looked something up
                await self._save(row, token, ctx, flow, step, replies, None, remember=False)
                return replies
            await sessions.release(row, token)
            return replies
        if expired:
            slots["_resume"] = {"flow": flow, "step": step}
            if inbound.text and not inbound.choice and not inbound.attachments and _global_word(inbound) is None:
                slots["_resume"]["text"] = inbound.text  # the answer typed meanwhile: applied if they go on
            keep = self.flows[flow].keep_photos if flow in self.flows else None
            if inbound.attachments and keep is not None:
                keep(ctx, inbound.attachments)  # photos sent meanwhile: kept if they go on
            flow, step = "menu", "resume"
            replies = await self._prompt(ctx, flow, step)
            return await self._save(row, token, ctx, flow, step, replies, inbound.key)
        keep = self.flows[flow].keep_photos
        if inbound.attachments and keep is not None and not self.flows[flow].step(step).photos:
            keep(ctx, inbound.attachments)  # kept for the flow, wherever it stands
            if not (inbound.text or inbound.choice or inbound.location or inbound.contact):
                # Nothing else to do: the question is asked again, its buttons with it (a chat page shows only the
                # latest message's).
                replies = ctx.replies + await self._prompt(ctx, flow, step)
                return await self._save(row, token, ctx, flow, step, replies, inbound.key)
        jump = self._global(ctx, inbound, flow)
        if jump == "":
            pass  # help or agent: say it, then ask the current question again
        elif jump is not None:
            flow, step = await self._enter(ctx, flow, jump)
        else:
            moved = await self._step(row, token, ctx, flow, step, inbound, inbound.key)
            if isinstance(moved, list):
                return moved
            flow, step = moved
            replay = ctx.slots.pop("_replay", None)
            if isinstance(replay, str) and replay and flow != "menu":  # what was typed as the session expired
                moved = await self._step(row, token, ctx, flow, step,
                                         Inbound(inbound.channel, inbound.user_key, text=replay), inbound.key)
                if isinstance(moved, list):
                    return moved
                flow, step = moved
        replies = ctx.replies + await self._prompt(ctx, flow, step)
        return await self._save(row, token, ctx, flow, step, replies, inbound.key)

    async def _step(self, row: DialogSession, token: str | None, ctx: Ctx, flow: str, step: str, inbound: Inbound,
                    key: str | None) -> tuple[str, str] | list[Outbound]:
        """Parse one answer at ``step``: return where the dialog goes, or the replies once a commit has saved."""
        current = self.flows[flow].step(step)
        result = await current.parse(ctx, inbound)
        if isinstance(result, Reask):
            ctx.replies.append(Outbound(ctx.text(result.key, **result.params)))
            return flow, step
        if current.slot:
            ctx.slots[current.slot] = result.value
        target = result.next or current.target(ctx)
        if current.commit is not None:
            return await self._commit(row, token, ctx, flow, current, target, key)
        return await self._enter(ctx, flow, target)

    def _warn_if_emergency(self, ctx: Ctx, text: str, flow: str) -> None:
        """Tell the citizen to call the emergency number at once; a submission under way is flagged urgent."""
        found = self.services.advisor.urgency(text[:MAX_SCAN])
        if found.level != "emergency":
            return
        if "self_harm" in found.kinds:
            ctx.say("emergency.self_harm")
        else:
            hotline = found.hotline or "110"
            ctx.say("emergency", hotline=hotline, what=ctx.text(f"emergency.{hotline}"))
        slot = self.flows[flow].urgency_slot if flow in self.flows else None
        if slot is not None:
            ctx.slots[slot] = "emergency"

    def _global(self, ctx: Ctx, inbound: Inbound, flow: str) -> str | None:
        """Return where a global command or a 'go:' button leads, or None for the current step."""
        word = inbound.choice if inbound.choice and inbound.choice.startswith("cmd:") else None
        command = word[4:] if word else _global_word(inbound) if not inbound.choice else None
        if command in ("cancel", "menu"):
            if command == "cancel" and flow != "menu":
                ctx.say("cancel.done")
            self._reset(ctx)
            return MENU
        if command == "help":
            ctx.say("help.text")
            return ""
        if command == "agent":
            ctx.say("agent.text", hotline=ctx.services.hotline)
            return ""
        if command and command.startswith("lang:"):
            ctx.language = command[5:]
            ctx.say("language.set")
            return ""
        if inbound.choice and inbound.choice.startswith("go:"):
            _, target, arg = (inbound.choice + "::").split(":", 2)
            self._reset(ctx)
            if target in self.flows:
                ctx.carry["case_id"] = arg.rstrip(":")
                return f"{target}:"
        return None

    @staticmethod
    def _reset(ctx: Ctx) -> None:
        for name in [k for k in ctx.slots if not k.startswith("_") or k == "_resume"]:
            del ctx.slots[name]

    async def _enter(self, ctx: Ctx, flow: str, target: str) -> tuple[str, str]:
        """Move to ``target``; entering another flow clears the old flow's slots (``carry`` survives)."""
        new_flow, step = split_target(flow, target)
        if new_flow != flow:
            self._reset(ctx)
        ctx.slots.update(ctx.carry)
        ctx.carry.clear()
        return new_flow, step or self.flows[new_flow].first

    async def _ask_again(self, ctx: Ctx, flow: str, step: str) -> tuple[list[Outbound], bool]:
        """Ask the current question again; return the replies and whether asking changed the slots."""
        # Where the session stands is where a prompt that asks would record it: a session that never had it
        # recorded (just created) is not changed by asking its own question.
        ctx.slots.setdefault("_flow", flow)
        ctx.slots.setdefault("_step", step)
        before = json.dumps(ctx.slots, sort_keys=True, default=str)
        replies = await self._prompt(ctx, flow, step)
        return replies, json.dumps(ctx.slots, sort_keys=True, default=str) != before

    async def _prompt(self, ctx: Ctx, flow: str, step: str) -> list[Outbound]:
        """Ask the question of ``step``; steps with nothing to ask pass on to their next step."""
        for _ in range(MAX_HOPS):
            current = self.flows[flow].step(step)
            asked = await current.prompt(ctx)
            if asked is not None:
                ctx.slots["_flow"], ctx.slots["_step"] = flow, step
                return asked
            flow, step = await self._enter(ctx, flow, current.target(ctx))
        raise RuntimeError(f"too many skipped steps at {flow}:{step}")

    async def _save(
        self, row: DialogSession, token: str | None, ctx: Ctx, flow: str, step: str,
        replies: list[Outbound], key: str | None, remember: bool = True, cache: bool = True,
    ) -> list[Outbound]:
        flow, step = ctx.slots.get("_flow", flow), ctx.slots.get("_step", step)
        if remember:  # the answer a redelivery of ``key`` gets
            ctx.slots["_out"] = [o.to_json() for o in replies]
        expires = None if flow == "menu" else ctx.now + self.idle
        save = sessions.save_statement(row, token, flow=flow, step=step, slots=ctx.slots, language=ctx.language,
                                       inbound_key=key or row.last_inbound_key, expires_at=expires, now=ctx.now)
        receipt, ctx.receipt = ctx.receipt, None  # committed once, with the first save of the step
        writes = ctx.writes if ctx.writes is not None else UnitOfWork() if receipt is not None else None
        if writes is not None:  # a queued commit's writes, the channel's receipt and this save: all or nothing
            if receipt is not None:
                receipt.add_to(writes)
            writes.execute(*save, must_change=True)
            try:
                await writes.commit()
            except NothingChanged:
                raise ConcurrentUpdate(row.user_key) from None
            if receipt is not None:
                receipt.used = True
        elif (await batch.execute(*save))[0] != 1:
            raise ConcurrentUpdate(row.user_key)
        row.flow, row.step, row.slots, row.language = flow, step, ctx.slots, ctx.language
        row.last_inbound_key, row.expires_at, row.version = key or row.last_inbound_key, expires, row.version + 1
        row.locked_by = row.locked_until = None
        if cache:
            self._rows.put(row)
        return replies

    async def _commit(
        self, row: DialogSession, token: str | None, ctx: Ctx, flow: str, current: Any, target: str, key: str | None
    ) -> list[Outbound]:
        """Run a step's commit and the session save atomically: both happen or neither.

        A queued commit reads now and queues its writes, which the save commits as one unit: no transaction is
        held while the step runs. Any other commit runs in a transaction with the save.
        """
        if current.queued:
            ctx.writes = UnitOfWork()
        async with contextlib.nullcontext() if current.queued else in_transaction():
            override = await current.commit(ctx)
            new_flow, step = await self._enter(ctx, flow, override if override is not None else target)
            replies = ctx.replies + await self._prompt(ctx, new_flow, step)
            await self._save(row, token, ctx, new_flow, step, replies, key, cache=False)
        self._rows.put(row)  # only once committed: a rolled-back state must never look current
        return replies

