"""Back-office fixtures: a small city with one account per role, a real server and a logged-in client."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from backoffice import totp
from backoffice.app import create_app
from backoffice.keys import SUGGESTER
from backoffice.suggest import Suggester
from storage.accounts import hash_password
from storage.lifecycle import Role
from storage.models import Staff
from storage.settings import Settings
from tests.support.builders import World, make_world
from tests.support.server import serving

PASSWORD = "correct horse battery"
_HASH: list[str] = []
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION = re.compile(r'name="expected_version" value="(\d+)"')
#: The authenticator secret of the test city's admin and supervisor (their roles require a second factor).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CODE_STEP = 'name="step" value="code"'


async def next_code(username: str) -> str:
    """Return a code the account has not used yet, as its authenticator app would show it (±1 step)."""
    staff = await Staff.get(username=username)
    secret = totp.secret_bytes(totp.unseal(staff.totp_secret or "", None))
    now = totp.step_at(time.time())
    step = max(now, (staff.totp_last_step or 0) + 1)  # never the oldest step: the clock may pass it meanwhile
    assert step <= now + totp.WINDOW, "more logins of one account than codes in the window"
    return totp.hotp(secret, step)


def password_hash() -> str:
    """Hash the test password once per session (Argon2 is slow on purpose)."""
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


@dataclass
class City:
    """The test world plus one staff account per role (unit staff in the lead unit)."""

    world: World
    staff: dict[str, Staff]


async def make_city() -> City:
    """Create units, a citizen and the accounts operator, dispatcher, handler, head, supervisor, admin, auditor."""
    world = await make_world()
    accounts: dict[str, Staff] = {}
    for username, role, unit in (
        ("operator", Role.OPERATOR, None), ("dispatcher", Role.DISPATCHER, None),
        ("handler", Role.HANDLER, world.lead), ("head", Role.UNIT_HEAD, world.lead),
        ("other-handler", Role.HANDLER, world.other), ("supervisor", Role.SUPERVISOR, None),
        ("admin", Role.ADMIN, None), ("auditor", Role.AUDITOR, None),
    ):
        enrolled = role in totp.REQUIRED_ROLES
        accounts[username] = await Staff.create(
            username=username, display_name=f"{username}姓名", password_hash=password_hash(),
            roles=[role.value], unit=unit, totp_secret=totp.seal(TOTP_SECRET, None) if enrolled else None,
            totp_confirmed_at=dt.datetime.now(dt.UTC) if enrolled else None,
        )
    return City(world, accounts)


@pytest.fixture
async def city(database_url: str) -> City:
    """Give a test the small city."""
    return await make_city()


def build_app(database_url: str, suggestions: bool = False, data_dir: Path | None = None,
              secret_key: str | None = None) -> web.Application:
    """Create the application on the test database (ORM opened by the fixture), with a data directory and a
    secret key if given."""
    env = {"APPEALS_DATABASE_URL": database_url} | ({"APPEALS_DATA_DIR": str(data_dir)} if data_dir else {})
    env |= {"APPEALS_SECRET_KEY": secret_key} if secret_key else {}
    app = create_app(Settings.from_env(env), manage_orm=False, background=False)
    app[SUGGESTER] = Suggester(enabled=suggestions)
    return app


@pytest.fixture
def uploads_dir(tmp_path: Path) -> Path:
    """The test server's upload directory (inside its own data directory)."""
    return tmp_path / "data" / "uploads"


@pytest.fixture
async def server(database_url: str, city: City, uploads_dir: Path) -> AsyncIterator[str]:
    """Serve the application on loopback, with a data directory of its own, and yield its base URL."""
    async with serving(build_app(database_url, data_dir=uploads_dir.parent)) as base:
        yield base


class Browser:
    """A cookie-keeping HTTP client that reads CSRF tokens and versions from pages, like a browser."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        """Close the connection pool."""
        await self.http.close()

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        """GET a page; remember its CSRF token."""
        async with self.http.get(self.base + path, allow_redirects=kw.pop("allow_redirects", True), **kw) as r:
            text = await r.text()
        if m := CSRF.search(text):
            self.csrf = m.group(1)
        return r.status, text

    async def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]], csrf: bool = True,
                   **kw: Any) -> tuple[int, str]:
        """POST a form with the current CSRF token."""
        form = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf:
            form.append(("csrf_token", self.csrf))
        async with self.http.post(self.base + path, data=form, **kw) as r:
            text = await r.text()
        if m := CSRF.search(text):
            self.csrf = m.group(1)
        return r.status, text

    async def login(self, username: str, password: str = PASSWORD) -> tuple[int, str]:
        """Log in through the form, entering the authenticator's code when the account has a second factor."""
        await self.get("/login")
        status, text = await self.post("/login", {"username": username, "password": password})
        if CODE_STEP in text:
            status, text = await self.post("/login", {"step": "code", "code": await next_code(username)})
        return status, text

    def cookie(self, name: str) -> str | None:
        """Return a cookie's value."""
        for c in self.http.cookie_jar:
            if c.key == name:
                return c.value
        return None

    async def act(self, case_id: int, action: str, **fields: Any) -> tuple[int, str]:
        """Open the case page and post an action form with the version shown."""
        status, page = await self.get(f"/cases/{case_id}")
        assert status == 200, page
        m = VERSION.search(page)
        version = m.group(1) if m else "1"
        data: list[tuple[str, str]] = [("expected_version", version)]
        for k, v in fields.items():
            for item in v if isinstance(v, list) else [v]:
                data.append((k, str(item)))
        return await self.post(f"/cases/{case_id}/actions/{action}", data)

    async def api(self, method: str, path: str, json: Any = None, csrf: bool = True) -> tuple[int, Any]:
        """Call the JSON API with the session cookie and the X-CSRF-Token header."""
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.http.request(method, self.base + path, json=json, headers=headers) as r:
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = await r.text()
            return r.status, body


@pytest.fixture
async def browser(server: str) -> AsyncIterator[Browser]:
    """A fresh client on the running server."""
    b = Browser(server)
    yield b
    await b.close()


@asynccontextmanager
async def logged_in_clients(base: str) -> AsyncIterator[Callable[[str], Awaitable[Browser]]]:
    """Give a function opening clients of the server at ``base`` logged in by username; close them all at the end."""
    opened: list[Browser] = []

    async def open_as(username: str) -> Browser:
        b = Browser(base)
        opened.append(b)
        status, text = await b.login(username)
        assert status == 200 and "工作队列" in text, text[:500]
        return b

    try:
        yield open_as
    finally:
        for b in opened:
            await b.close()


@pytest.fixture
async def login_as(server: str) -> AsyncIterator[Any]:
    """Open logged-in clients by username; all are closed at the end."""
    async with logged_in_clients(server) as open_as:
        yield open_as
