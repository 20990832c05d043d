"""Composition root of the citizen side: one engine, hub and notifier per application."""

from __future__ import annotations

from dataclasses import dataclass

from storage.cases import CaseService
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


def build(settings: Settings, cases: CaseService, advisor: Advisor | None = None) -> Bot:
    """Wire the engine, its services and the notifier from the settings."""
    services = Services(cases=cases, advisor=advisor or Advisor(settings.model_path), hotline=settings.hotline_prefix)
    engine = DialogEngine(services, all_flows(), language=settings.language)
    hub = Hub()
    return Bot(engine, hub, Notifier(hub, settings.language), settings.language)
