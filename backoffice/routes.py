"""Wire the back-office into the application: templates, middlewares, dependencies and routes."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from intents import gazetteer
from storage.deadlines import local
from storage.knowledge import KnowledgeBase, KnowledgeService
from storage.settings import Settings

from .auth import session_middleware
from .csrf import csrf_middleware
from .keys import KNOWLEDGE, KNOWLEDGE_SERVICE, SECURE_COOKIES, SUGGESTER
from .maps import PLACES
from .suggest import Suggester
from .views import (
    account,
    admin,
    admin_settings,
    analytics,
    api,
    audit,
    cases,
    export,
    intake,
    knowledge,
    login,
    notifications,
    outbox,
    queues,
    supervision,
)

HERE = Path(__file__).parent


def setup(app: web.Application, settings: Settings) -> None:
    """Add the back-office pages, the JSON API and their middlewares to ``app``."""
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )
    env.filters["local"] = local
    app.middlewares.append(session_middleware)
    app.middlewares.append(csrf_middleware)
    app[SUGGESTER] = Suggester(settings.model_path, places=settings.gazetteer_path)
    app[KNOWLEDGE_SERVICE] = KnowledgeService()
    app[PLACES] = gazetteer.load(settings.gazetteer_path)  # district outlines for the case page's map
    app[SECURE_COOKIES] = bool(settings.public_url and settings.public_url.startswith("https://"))
    r = app.router
    r.add_static("/static", HERE / "static", name="static")
    r.add_get("/login", login.login_form, name="login_form")
    r.add_post("/login", login.login, name="login")
    r.add_post("/logout", login.logout_view, name="logout")
    r.add_get("/account/password", login.password_form, name="password_form")
    r.add_post("/account/password", login.change_password, name="change_password")
    r.add_post("/account/language", login.set_language, name="set_language")
    r.add_get("/queues", queues.home, name="queues_home")
    r.add_get("/queues/{queue}", queues.queue_page, name="queue_page")
    r.add_get("/cases/{case_id}", cases.case_page, name="case_page")
    r.add_post("/cases/{case_id}/actions/{action}", cases.case_action, name="case_action")
    r.add_get("/cases/{case_id}/photos/{photo_id}", cases.case_photo, name="case_photo")
    r.add_get("/intake", intake.intake_form, name="intake_form")
    r.add_post("/intake", intake.intake_submit, name="intake_submit")
    r.add_get("/intake/answers", intake.intake_answers, name="intake_answers")
    r.add_get("/export", export.export_form, name="export_form")
    r.add_post("/export", export.export_cases, name="export_cases")
    account.add_routes(r)
    admin.add_routes(r)
    admin_settings.add_routes(r)
    app.on_startup.append(admin_settings.load_admin_settings)  # holiday overrides and saved KPI weights
    analytics.add_routes(r)
    supervision.add_routes(r)
    outbox.add_routes(r)
    audit.add_routes(r)
    notifications.add_routes(r)
    knowledge.add_routes(r)
    api.add_routes(r)


def share_knowledge(app: web.Application, knowledge: KnowledgeBase | None) -> None:
    """Let the phone desk suggest from the chat bot's knowledge base: one served index per process."""
    if knowledge is not None:
        app[KNOWLEDGE] = knowledge
