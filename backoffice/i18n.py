"""Chinese first, English on request: which language a page speaks, and the helper templates use."""

from __future__ import annotations

from aiohttp import web

from .keys import LANG

LANGUAGES = ("zh-CN", "en")
LANG_COOKIE = "appeals_lang"


def pick_language(request: web.Request, staff_language: str | None, default: str) -> str:
    """Choose ?lang=, then the cookie, then the staff member's setting, then the server default."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE), staff_language, default):
        if candidate in LANGUAGES:
            return candidate
    return "zh-CN"


def lang(request: web.Request) -> str:
    """Return the language chosen for this request."""
    return request.get(LANG, "zh-CN")


def tr(request: web.Request, zh: str, en: str) -> str:
    """Return the text in the request's language."""
    return en if lang(request) == "en" else zh
