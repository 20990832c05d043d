"""A fake Telegram Bot API server on loopback: enough of the API for the real PTB client to talk to."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

from tests.support.server import serving

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Appeals", "username": "appeals_test_bot"}


@dataclass
class Call:
    """One Bot API call as the fake received it."""

    method: str
    params: dict[str, Any]


@dataclass
class FakeTelegram:
    """Bot API state: queued updates, every call received, files, and failures to inject."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, str] | None]] = field(default_factory=dict)  # None: that call succeeds
    webhook: dict[str, Any] = field(default_factory=dict)
    base: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # calls received per method (cheap to poll)
    carried: int = 0  # methods carried out from webhook answers
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _messages: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _closing: bool = False

    # -- building updates -------------------------------------------------------------------------
    def next_id(self) -> int:
        """Return the next update_id."""
        return next(self._ids)

    def message(self, chat: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
        """Build a private-chat message update (commands get their bot_command entity)."""
        message: dict[str, Any] = {"message_id": next(self._messages), "date": int(time.time()),
                                   "chat": {"id": chat, "type": "private", "first_name": "Citizen"},
                                   "from": {"id": chat, "is_bot": False, "first_name": "Citizen"}, **extra}
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": self.next_id(), "message": message}

    def tap(self, chat: int, data: str, message_id: int = 1) -> dict[str, Any]:
        """Build a callback-query update: the citizen pressed an inline button."""
        return {"update_id": self.next_id(), "callback_query": {
            "id": f"cb{next(self._messages)}", "chat_instance": str(chat), "data": data,
            "from": {"id": chat, "is_bot": False, "first_name": "Citizen"},
            "message": {"message_id": message_id, "date": int(time.time()), "text": "?",
                        "chat": {"id": chat, "type": "private"}}}}

    def push(self, *updates: dict[str, Any]) -> None:
        """Queue updates for getUpdates."""
        self.updates.extend(updates)
        self._wake.set()

    def fail(self, method: str, code: int = 500, description: str = "Internal Server Error", times: int = 1,
             after: int = 0) -> None:
        """Make the next ``times`` calls of ``method`` (after ``after`` that succeed) answer an error."""
        self.failures.setdefault(method, []).extend([None] * after + [(code, description)] * times)

    # -- reading what the bot did -----------------------------------------------------------------
    def sent(self, chat: int | None = None) -> list[dict[str, Any]]:
        """Return the parameters of every sendMessage (to ``chat``), oldest first."""
        return [c.params for c in self.calls if c.method == "sendMessage"
                and (chat is None or str(c.params.get("chat_id")) == str(chat))]

    def texts(self, chat: int | None = None) -> list[str]:
        """Return the texts sent (to ``chat``)."""
        return [p.get("text", "") for p in self.sent(chat)]

    def buttons(self, chat: int | None = None) -> list[str]:
        """Return the callback data of the inline buttons of the last message with buttons."""
        for params in reversed(self.sent(chat)):
            markup = params.get("reply_markup") or {}
            if "inline_keyboard" in markup:
                return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
        return []

    async def wait_for(self, count: int, chat: int | None = None, timeout: float = 10.0) -> list[str]:
        """Wait until ``count`` messages were sent (to ``chat``); return their texts."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.sent(chat)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(self.sent(chat))} of {count} messages sent: {self.texts(chat)}")
            await asyncio.sleep(0.01)
        return self.texts(chat)

    def record(self, method: str, params: dict[str, Any]) -> None:
        """Note a Bot API call received."""
        self.calls.append(Call(method, params))
        self.counts[method] = self.counts.get(method, 0) + 1

    def carry_out(self, answer: bytes) -> None:
        """Carry out a method the bot gave as its answer to a webhook call, as Telegram does (no result goes back)."""
        try:
            body = json.loads(answer)
        except ValueError:
            return
        if isinstance(body, dict) and isinstance(body.get("method"), str):
            self.record(body["method"], {k: v for k, v in body.items() if k != "method"})
            self.carried += 1

    async def deliver(self, http: ClientSession, url: str, update: dict[str, Any], secret: str) -> int:
        """POST an update to a webhook as Telegram does, carry out the method in the answer; return the status."""
        async with http.post(url, json=update, headers={SECRET_HEADER: secret}) as response:
            body = await response.read()
        if response.status < 300:
            self.carry_out(body)
        return response.status

    # -- the HTTP side ----------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
        else:
            data = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        for key in ("reply_markup", "allowed_updates", "media"):
            if isinstance(data.get(key), str):
                data[key] = json.loads(data[key])
        return dict(data)

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"message_id": next(self._messages), "date": int(time.time()), "from": BOT_USER,
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"}, **extra}

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, timeout = int(params.get("offset") or 0), float(params.get("timeout") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout > 0 and not self._closing:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), min(timeout, 5.0))
            except TimeoutError:
                pass
        return self.updates[: int(params.get("limit") or 100)]

    async def api(self, request: web.Request) -> web.Response:
        """Answer one Bot API method the way Telegram does."""
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method, params = request.match_info["method"], await self._params(request)
        self.record(method, params)
        failure = self.failures[method].pop(0) if self.failures.get(method) else None
        if failure is not None:
            code, description = failure
            body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
            if code == 429:
                body["parameters"] = {"retry_after": 1}
            return web.json_response(body, status=code)
        result: Any = True
        if method == "getMe":
            result = BOT_USER
        elif method == "getUpdates":
            result = await self._get_updates(params)
        elif method == "setWebhook":
            self.webhook = params
        elif method == "deleteWebhook":
            self.webhook = {}
        elif method == "getWebhookInfo":
            result = {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}
        elif method in ("sendMessage", "editMessageText"):
            result = self._message(params, text=params.get("text", ""))
        elif method == "sendPhoto":
            result = self._message(params, photo=[{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}])
        elif method == "getFile":
            file_id = params["file_id"]
            size = len(self.files.get(file_id, b""))
            result = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size,
                      "file_path": f"photos/{file_id}.jpg"}
        elif method not in ("answerCallbackQuery", "editMessageReplyMarkup", "deleteMessage", "setMyCommands"):
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": result})

    async def download(self, request: web.Request) -> web.Response:
        """Serve a file uploaded by a citizen."""
        file_id = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        if request.match_info["token"] != TOKEN or file_id not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[file_id], content_type="image/jpeg")

    def app(self) -> web.Application:
        """Return the aiohttp application of the fake server."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.api)
        app.router.add_get("/file/bot{token}/{path:.+}", self.download)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, _app: web.Application) -> None:
        self._closing = True
        self._wake.set()  # parked long polls answer at once, or shutdown stalls

    def close(self) -> None:
        """Wake parked long polls and make later ones answer at once."""
        self._closing = True
        self._wake.set()


@asynccontextmanager
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """Serve a fake Bot API on loopback; ``fake.base`` is the value for TELEGRAM_API_BASE_URL."""
    fake = FakeTelegram()
    async with serving(fake.app()) as url:
        fake.base = f"{url}/bot"
        try:
            yield fake
        finally:
            fake.close()
