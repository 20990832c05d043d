"""PTB's HTTP transport on aiohttp: one pooled client session, JSON bodies, PTB's own error mapping."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from http import HTTPStatus
from typing import Any

import aiohttp
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBDeprecationWarning
from yarl import URL

from storage import jsontext

JSON_HEADERS = {"Content-Type": "application/json"}
POOL = 100  # connections to the Bot API; replies of concurrent chats go out side by side


def retry_seconds(exc: RetryAfter) -> float:
    """Return the seconds Telegram asked to wait (without PTB 22's warning about the attribute's future type)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)


def api_error(code: int, payload: bytes) -> Exception:
    """Return the PTB exception for a failed Bot API answer, as PTB's own request wrapper builds it."""
    try:
        message = f"{HTTPStatus(code).phrase} ({code})"
    except ValueError:
        message = f"Unknown HTTPError ({code})"
    try:
        data = json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        return NetworkError(f"{message}. Parsing the server response {payload[:200]!r} failed")
    message = (data.get("description") if isinstance(data, dict) else None) or message
    parameters = data.get("parameters") if isinstance(data, dict) else None
    if parameters:
        if parameters.get("migrate_to_chat_id"):
            return ChatMigrated(parameters["migrate_to_chat_id"])
        if parameters.get("retry_after"):
            with warnings.catch_warnings():  # PTB 22 warns about the attribute's future type even here
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                return RetryAfter(parameters["retry_after"])
    if code == HTTPStatus.FORBIDDEN:
        return Forbidden(message)
    if code in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        return InvalidToken(message)
    if code == HTTPStatus.BAD_REQUEST:
        return BadRequest(message)
    if code == HTTPStatus.CONFLICT:
        return Conflict(message)
    return NetworkError(message)


def _client_timeout(read: float | None, write: float | None, connect: float | None,
                    pool: float | None) -> aiohttp.ClientTimeout:
    """Map PTB's four timeouts onto aiohttp's: waiting for a pooled connection, connecting, and a socket read
    (the read timeout plus the write one, since aiohttp has no write timeout of its own)."""
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect,
                                 sock_read=None if read is None else read + (write or 0))


class AiohttpRequest(BaseRequest):
    """A ``telegram.request.BaseRequest`` on one aiohttp session (cheaper per call than httpx)."""

    def __init__(self, pool: int = POOL, read_timeout: float | None = 5.0, connect_timeout: float = 5.0,
                 write_timeout: float = 5.0, pool_timeout: float = 10.0) -> None:
        self.pool = pool
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}  # parsed once per method URL
        self._timeout = _client_timeout(read_timeout, write_timeout, connect_timeout, pool_timeout)

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout, in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the client session (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT},
                                                  cookie_jar=aiohttp.DummyCookieJar())

    async def shutdown(self) -> None:
        """Close the client session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    @staticmethod
    def _seconds(value: object, default: float | None) -> float | None:
        return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value  # type: ignore[return-value]

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: object = BaseRequest.DEFAULT_NONE,
                         write_timeout: object = BaseRequest.DEFAULT_NONE,
                         connect_timeout: object = BaseRequest.DEFAULT_NONE,
                         pool_timeout: object = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        """Send one Bot API call; return its status and body (PTB turns errors into exceptions)."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = _client_timeout(
            self._seconds(read_timeout, self._read_timeout), self._seconds(write_timeout, self._write_timeout),
            self._seconds(connect_timeout, self._connect_timeout), self._seconds(pool_timeout, self._pool_timeout))
        body: bytes | aiohttp.FormData | None = None
        headers: dict[str, str] = {}
        if request_data is not None and request_data.contains_files:
            form = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                form.add_field(name, value)
            for name, (filename, content, mime) in request_data.multipart_data.items():
                form.add_field(name, content, filename=filename, content_type=mime)
            body = form
        elif request_data is not None and request_data.parameters:
            body, headers = request_data.json_payload, JSON_HEADERS
        return await self._send(method, url, body, headers, timeout)

    async def _send(self, method: str, url: str | URL, body: Any, headers: dict[str, str],
                    timeout: aiohttp.ClientTimeout) -> tuple[int, bytes]:
        """Make one HTTP request; return its status and body, transport failures as PTB's errors."""
        assert self._session is not None
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    async def call(self, url: str, params: dict[str, Any]) -> Any:
        """POST one Bot API method as JSON and return its ``result`` (no PTB objects built); raise PTB errors."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        target = self._urls.get(url)
        if target is None:
            target = self._urls[url] = URL(url)
        body = jsontext.dumps_bytes(params)
        code, payload = await self._send("POST", target, body, JSON_HEADERS, self._timeout)
        if not HTTPStatus.OK <= code <= 299:
            raise api_error(code, payload)
        try:
            return json.loads(payload)["result"]
        except (ValueError, KeyError, TypeError) as exc:
            raise NetworkError(f"Invalid server response {payload[:200]!r}") from exc


async def call(bot: Any, method: str, params: dict[str, Any]) -> Any:
    """Call a Bot API method through ``bot``'s aiohttp transport and return the raw JSON result."""
    request = bot.request
    if not isinstance(request, AiohttpRequest):
        raise TypeError("the bot must be built with AiohttpRequest")
    return await request.call(f"{bot.base_url}/{method}", params)
