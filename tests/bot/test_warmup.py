"""Warm-up: the NLP parts are loaded before the first citizen and their heap is frozen out of the collector's way."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path

import pytest

from bot import warmup
from bot.runtime import build
from intents import classifier
from storage.cases import CaseService
from storage.settings import Settings


async def test_warm_up_loads_the_classifier_and_freezes_the_heap(tmp_path: Path) -> None:
    settings = Settings.from_env({"APPEALS_DATA_DIR": str(tmp_path)})
    bot = build(settings, CaseService())
    advisor = bot.engine.services.advisor
    assert not advisor._model_tried  # lazily loaded until now
    try:
        await warmup.warm_up(bot)
        assert advisor._model_tried and advisor._suggester is not None
        assert gc.get_freeze_count() > 10_000  # the model, jieba's dictionary and the lexicons among them
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual


async def test_a_message_during_the_warm_up_waits_for_the_model(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env({"APPEALS_DATA_DIR": str(tmp_path)})
    advisor = build(settings, CaseService()).engine.services.advisor
    loading, release = threading.Event(), threading.Event()
    real_load = classifier.load

    def slow_load(path: Path) -> classifier.Model:  # the warm-up's load, held until the second caller asks
        loading.set()
        release.wait(5)
        return real_load(path)

    monkeypatch.setattr(classifier, "load", slow_load)
    warm = asyncio.create_task(asyncio.to_thread(advisor.load_model))
    await asyncio.to_thread(loading.wait, 5)
    second = asyncio.create_task(asyncio.to_thread(advisor.load_model))
    await asyncio.sleep(0.05)
    assert not second.done()  # waits for the load in progress rather than answering "no model"
    release.set()
    assert await second is not None and await warm is await second


async def test_suggestions_asked_during_the_warm_up_wait_for_the_model(database_url: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env({"APPEALS_DATA_DIR": str(tmp_path)})
    advisor = build(settings, CaseService()).engine.services.advisor
    loading, release = threading.Event(), threading.Event()
    real_load = classifier.load

    def slow_load(path: Path) -> classifier.Model:
        loading.set()
        release.wait(5)
        return real_load(path)

    monkeypatch.setattr(classifier, "load", slow_load)
    warm = asyncio.create_task(asyncio.to_thread(advisor.load_model))
    await asyncio.to_thread(loading.wait, 5)
    asked = asyncio.create_task(advisor.suggest("学校乱收补课费，家长负担很重"))
    await asyncio.sleep(0.05)
    assert not asked.done()  # not [] (which would make the bot offer the category menu)
    release.set()
    await warm
    ranked = await asked
    assert len(ranked) == 3 and ranked[0]["category"] == "教育文体"
