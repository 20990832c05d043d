"""A transcript driver for the dialog engine: say, tap, and read the replies as text."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Protocol

from bot.dialog.engine import DialogEngine
from bot.messages import Inbound, Outbound

_ids = itertools.count(1)


@dataclass
class Chat:
    """One citizen talking to the engine on one channel."""

    engine: DialogEngine
    user_key: str = "web-user-1"
    channel: str = "webchat"
    last: list[Outbound] = field(default_factory=list)

    async def send(self, **fields: object) -> list[Outbound]:
        """Send one inbound message built from ``fields``; return the replies."""
        fields.setdefault("key", f"m{next(_ids)}")
        self.last = await self.engine.handle(Inbound(self.channel, self.user_key, **fields))  # type: ignore[arg-type]
        return self.last

    async def say(self, text: str) -> str:
        """Send text; return the replies joined as one string."""
        return joined(await self.send(text=text))

    async def tap(self, value: str) -> str:
        """Press a button; return the replies joined as one string."""
        return joined(await self.send(choice=value))

    def buttons(self) -> list[str]:
        """Return the values of the buttons in the last replies."""
        return [c.value for o in self.last for c in o.choices]


def joined(replies: list[Outbound]) -> str:
    """Join reply texts with newlines."""
    return "\n".join(o.text for o in replies)


class Talker(Protocol):
    """A citizen's side of a chat, in process (Chat) or over the websocket (tests.support.webchat.WebChat)."""

    async def say(self, text: str) -> str: ...
    async def tap(self, value: str) -> str: ...
    def buttons(self) -> list[str]: ...


async def to_summary(chat: Talker, description: str = "东湖区幸福里小区3栋门口路灯坏了一个月",
                     place: str = "东湖区幸福里小区3栋") -> str:
    """Walk an anonymous submission from the menu to its summary (following any offer); return the summary."""
    await chat.tap("submit")
    await chat.say(description)
    await chat.tap(chat.buttons()[0])
    await chat.say(place)
    shown = await chat.tap("anonymous")
    if "new" in chat.buttons():
        shown = await chat.tap("new")
    assert "请确认" in shown, shown
    return shown
