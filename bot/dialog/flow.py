"""Flows as data: named steps, each with a prompt, a parser, the slot it fills and the next step."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storage import batch
from storage.unit_of_work import UnitOfWork

from ..messages import Choice, Inbound, Outbound
from ..texts import t

if TYPE_CHECKING:
    from ..services import Services

MENU = "menu:start"


@dataclass
class Ctx:
    """What a step sees: the language, the slots, the citizen and the services."""

    services: Services
    channel: str
    user_key: str
    citizen_id: int
    language: str
    slots: dict[str, Any]
    now: dt.datetime
    replies: list[Outbound] = field(default_factory=list)
    carry: dict[str, Any] = field(default_factory=dict)  # slots taken along into the next flow
    writes: UnitOfWork | None = None  # set while a queued commit runs: its writes, saved with the session
    receipt: Receipt | None = None  # the channel's record of the message, committed with the step's save

    def text(self, key: str, **params: object) -> str:
        """Return a citizen-facing text in the conversation's language."""
        return t(key, self.language, **params)

    def say(self, key: str, **params: object) -> None:
        """Queue a plain message before the next prompt."""
        self.replies.append(Outbound(self.text(key, **params)))

    def choice(self, value: str, key: str, **params: object) -> Choice:
        """Build a button with a translated label."""
        return Choice(value, self.text(key, **params))


class AlreadyRecorded(Exception):
    """A message's receipt was recorded before (a redelivery after a restart): its step is undone, not applied twice."""


@dataclass
class Receipt:
    """An insert a channel needs committed with the step a message causes: its record of the message.

    Committed with the step's save or not at all; if the row is there already the step is undone and
    ``AlreadyRecorded`` raised, unless ``late`` (the channel stored the message itself meanwhile: the step goes on).
    ``used`` tells the channel afterwards whether a save committed it (a redelivery of the last message, or a step
    that failed, saves nothing: the channel then records the message itself).
    """

    sql: str
    values: list[Any]
    used: bool = False
    late: bool = False

    def add_to(self, writes: UnitOfWork) -> None:
        """Queue the insert on ``writes``, before the save."""

        def checked(changed: int) -> None:
            if changed == 0 and not self.late:
                raise AlreadyRecorded(self.values[1] if len(self.values) > 1 else "")

        def work(db: sqlite3.Connection) -> None:
            checked(db.execute(self.sql, self.values).rowcount)

        async def orm() -> None:
            changed, _ = await batch.execute(self.sql, self.values)  # inside the transaction: runs on it directly
            checked(changed)

        writes.add(work, orm)


@dataclass(frozen=True)
class Ok:
    """A parser accepted the input; ``value`` goes into the step's slot."""

    value: Any = None
    next: str | None = None  # overrides the step's next


@dataclass(frozen=True)
class Reask:
    """A parser refused the input: say why, politely, and ask the same question again."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)


Result = Ok | Reask
Prompt = Callable[[Ctx], Awaitable[list[Outbound] | None]]  # None: nothing to ask, skip the step
Parser = Callable[[Ctx, Inbound], Awaitable[Result]]
Commit = Callable[[Ctx], Awaitable[str | None]]  # may return a different next step
PhotoKeeper = Callable[[Ctx, Sequence[int]], None]


@dataclass(frozen=True)
class Step:
    """One question of a flow."""

    name: str
    prompt: Prompt
    parse: Parser
    slot: str | None = None
    next: str | Callable[[Ctx], str] = MENU
    commit: Commit | None = None  # runs in the same transaction as the session save
    #: The commit only reads, and queues its writes on ``ctx.writes``; they commit with the session save as
    #: one unit, so no transaction holds the database while the step runs (SQLite has one connection).
    queued: bool = False
    photos: bool = False  # the parser takes photos itself (elsewhere the flow's ``keep_photos`` does)

    def target(self, ctx: Ctx) -> str:
        """Return the next step's name."""
        return self.next(ctx) if callable(self.next) else self.next


@dataclass(frozen=True)
class Flow:
    """A conversation: steps by name, the first one first."""

    name: str
    steps: tuple[Step, ...]
    #: Keeps photos sent at a step that asks for something else (an album's later pictures come one message each)
    #: and says so; None: such photos are that step's input like any other.
    keep_photos: PhotoKeeper | None = None
    urgency_slot: str | None = None  # where an emergency typed at any of its steps is noted (the case is urgent)

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"flow {self.name}: duplicate step names")

    @property
    def first(self) -> str:
        """Return the name of the first step."""
        return self.steps[0].name

    def step(self, name: str) -> Step:
        """Return the step called ``name``."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"{self.name}:{name}")


def split_target(current_flow: str, target: str) -> tuple[str, str | None]:
    """Return (flow, step) for 'step', 'flow:step' or 'flow:' (the flow's first step)."""
    if ":" in target:
        flow, step = target.split(":", 1)
        return flow, step or None
    return current_flow, target
