"""Composition root of the citizen side: one engine, hub and notifier per application."""

from __future__ import annotations

from dataclasses import dataclass

from intents import gazetteer
from storage.cases import CaseService
from storage.knowledge import KnowledgeBase
from storage.settings import Settings

from .dialog.engine import DialogEngine
from .flows import all_flows
from .notifier import Hub, Notifier
from .services import Advisor, Services


@dataclass
class Bot:
    """The dialog engine and the outbox pusher of one process."""

    engine: DialogEngine
    hub: Hub
    notifier: Notifier
    language: str
    knowledge: KnowledgeBase | None = None  # the one served index of this process (the phone desk may share it)


def build(
    settings: Settings, cases: CaseService, advisor: Advisor | None = None, knowledge: KnowledgeBase | None = None
) -> Bot:
    """Wire the engine, its services and the notifier from the settings.

    The knowledge base is created here, once per process, unless the caller passes the one it shares.
    """
    knowledge = knowledge if knowledge is not None else KnowledgeBase()
    advisor = advisor or Advisor(settings.model_path, places=gazetteer.load(settings.gazetteer_path))
    services = Services(cases=cases, advisor=advisor, hotline=settings.hotline_prefix, knowledge=knowledge)
    # Several workers on one port: only a web-chat socket keeps a citizen on one process (see DialogEngine).
    cached = None if settings.workers == 1 else frozenset({"webchat"})
    engine = DialogEngine(services, all_flows(), language=settings.language, cached_channels=cached)
    hub = Hub()
    return Bot(engine, hub, Notifier(hub, settings.language), settings.language, knowledge)
