"""A web-chat client speaking the /chat websocket protocol, for tests and benchmarks."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

_ids = itertools.count(1)


@dataclass
class WebChat:
    """One browser: a cookie jar, the identity cookie from GET /chat, and one websocket."""

    base: str
    http: aiohttp.ClientSession = field(init=False)
    ws: aiohttp.ClientWebSocketResponse | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)
    last: list[dict[str, Any]] = field(default_factory=list)

    async def open(self, cookie: str | None = None) -> WebChat:
        """Load /chat (or reuse ``cookie``) and connect the websocket; return self."""
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        if cookie is not None:
            self.http.cookie_jar.update_cookies({"appeals_chat": cookie}, aiohttp.client.URL(self.base + "/chat"))
        else:
            async with self.http.get(self.base + "/chat") as response:
                response.raise_for_status()
        await self.connect()
        return self

    async def connect(self) -> list[dict[str, Any]]:
        """(Re)connect the websocket and say hello; return the resumed prompt."""
        self.ws = await self.http.ws_connect(self.base + "/chat/ws")
        return await self.frame({"type": "hello"})

    @property
    def cookie(self) -> str:
        """Return the identity cookie value."""
        for c in self.http.cookie_jar:
            if c.key == "appeals_chat":
                return c.value
        raise LookupError("no identity cookie")

    async def frame(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        """Send one frame; wait for its reply (notices seen meanwhile are kept); return the messages."""
        assert self.ws is not None
        frame.setdefault("id", f"t{next(_ids)}")
        await self.ws.send_str(json.dumps(frame, ensure_ascii=False))
        while True:
            msg = await self.ws.receive(timeout=30)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket closed: {msg.type}")
            data = json.loads(msg.data)
            if data["type"] == "notice":
                self.notices.append(data)
                continue
            if data["type"] == "error":
                self.last = [data]
                return self.last
            self.last = data["messages"]
            return self.last

    async def say(self, text: str) -> str:
        """Send text; return the reply texts joined."""
        return "\n".join(m.get("text", "") for m in await self.frame({"type": "message", "text": text}))

    async def tap(self, value: str) -> str:
        """Press a button; return the reply texts joined."""
        return "\n".join(m.get("text", "") for m in await self.frame({"type": "choice", "value": value}))

    def buttons(self) -> list[str]:
        """Return the button values of the last reply."""
        return [c["value"] for m in self.last for c in m.get("choices", [])]

    async def close(self) -> None:
        """Close the socket and the session."""
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()
