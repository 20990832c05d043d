"""Warm-up: the NLP parts are loaded before the first citizen and their heap is frozen out of the collector's way."""

from __future__ import annotations

import gc
from pathlib import Path

from bot import warmup
from bot.runtime import build
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
