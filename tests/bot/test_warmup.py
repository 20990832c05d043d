"""Warm-up: the NLP parts are loaded before the first citizen and their heap is frozen out of the collector's way."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import warmup
from bot.runtime import build
from bot.services import Advisor
from intents import classifier
from storage.cases import CaseService
from storage.settings import Settings


def advisor_of(tmp_path: Path) -> Advisor:
    """Return the advisor of a freshly built bot (its classifier not loaded yet)."""
    settings = Settings.from_env({"APPEALS_DATA_DIR": str(tmp_path)})
    return build(settings, CaseService()).engine.services.advisor


@pytest.fixture
async def warming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Advisor, threading.Event]]:
    """Start the warm-up's model load and hold it in the middle; yield the advisor and the event that releases it."""
    advisor = advisor_of(tmp_path)
    loading, release = threading.Event(), threading.Event()
    real_load = classifier.load

    def held_load(path: Path) -> classifier.Model:
        loading.set()
        release.wait(5)
        return real_load(path)

    monkeypatch.setattr(classifier, "load", held_load)
    warm = asyncio.create_task(asyncio.to_thread(advisor.load_model))
    assert await asyncio.to_thread(loading.wait, 5)  # the load really is under way (and held)
    yield advisor, release
    release.set()
    assert await warm is advisor._suggester is not None


async def test_warm_up_loads_the_classifier_and_freezes_the_heap(tmp_path: Path) -> None:
    bot = build(Settings.from_env({"APPEALS_DATA_DIR": str(tmp_path)}), CaseService())
    advisor = bot.engine.services.advisor
    assert not advisor._model_tried  # lazily loaded until now
    frozen = gc.get_freeze_count()
    try:
        await warmup.warm_up(bot)
        assert advisor._model_tried and advisor._suggester is not None
        assert advisor._classified  # warm: the first citizens' texts are classified inline
        # The model, jieba's dictionary and the lexicons among what this warm-up froze:
        assert gc.get_freeze_count() > 10_000 and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual


async def test_a_message_during_the_warm_up_waits_for_the_model(warming) -> None:
    advisor, release = warming
    second = asyncio.create_task(asyncio.to_thread(advisor.load_model))
    await asyncio.sleep(0.05)
    assert not second.done()  # waits for the load in progress rather than answering "no model"
    release.set()
    assert await second is not None and await second is advisor._suggester


async def test_suggestions_asked_during_the_warm_up_wait_for_the_model(database_url: str, warming) -> None:
    advisor, release = warming
    asked = asyncio.create_task(advisor.suggest("学校乱收补课费，家长负担很重"))
    await asyncio.sleep(0.05)
    assert not asked.done()  # not [] (which would make the bot offer the category menu)
    release.set()
    ranked = await asked
    assert len(ranked) == 3 and ranked[0]["category"] == "教育文体"
