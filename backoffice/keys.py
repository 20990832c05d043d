"""The application keys every part of the server shares (dependencies live on the app, not in globals)."""

from __future__ import annotations

from aiohttp import web

from storage.cases import CaseService
from storage.knowledge import KnowledgeBase, KnowledgeService
from storage.lifecycle import Actor
from storage.models import Staff, StaffSession
from storage.settings import Settings

from .suggest import Suggester

SETTINGS = web.AppKey("settings", Settings)
CASES = web.AppKey("cases", CaseService)
READY = web.AppKey("ready", dict)
SUGGESTER = web.AppKey("suggester", Suggester)
SECURE_COOKIES = web.AppKey("secure_cookies", bool)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)  # the bot's served index, shared (see routes.share_knowledge)
KNOWLEDGE_SERVICE = web.AppKey("knowledge_service", KnowledgeService)

# Per-request values set by the session middleware.
SESSION = web.RequestKey("session", StaffSession)
STAFF = web.RequestKey("staff", Staff)
ACTOR = web.RequestKey("actor", Actor)
LANG = web.RequestKey("lang", str)
LOGIN_CSRF = web.RequestKey("login_csrf", str)
