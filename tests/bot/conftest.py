"""Fixtures for the bot: the demo city's units and catalogue, an engine, a chat transcript driver."""

from __future__ import annotations

import pytest

from bot.dialog.engine import DialogEngine
from bot.flows import all_flows
from bot.services import Advisor, Services
from storage.cases import CaseService
from storage.deadlines import ensure_default_policies
from storage.seed import load_city, seed_units
from tests.support.chat import Chat


@pytest.fixture
async def city(database_url: str) -> str:
    """Create the demo city's units, catalogue and time-limit policies."""
    await ensure_default_policies()
    await seed_units(load_city())
    return database_url


def make_engine(suggester=None) -> DialogEngine:
    """Build an engine with the demo advisor (no classifier model unless ``suggester`` is given)."""
    advisor = Advisor(model_path=None, suggester=suggester) if suggester else Advisor(model_path=None)
    if suggester is None:
        advisor._model_tried = True  # the tests do not depend on whether a model file ships
    services = Services(cases=CaseService(hotline_prefix="8890"), advisor=advisor, hotline="8890")
    return DialogEngine(services, all_flows())


@pytest.fixture
async def engine(city: str) -> DialogEngine:
    """Return an engine on the demo city."""
    return make_engine()


@pytest.fixture
def chat(engine: DialogEngine) -> Chat:
    """Return a transcript driver for one citizen."""
    return Chat(engine)
