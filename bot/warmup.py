"""Warm the NLP parts up before the first citizen arrives, then keep their heap out of the collector's way.

The classifier, jieba's dictionary and the lexicons are several hundred thousand long-lived objects.
Python's full garbage collection walks every one of them each time it runs: under load that was a
pause of about a tenth of a second a few times a minute, for every conversation at once. Loading
them at start (instead of on the first message) and then freezing the heap (`gc.freeze`) leaves the
collector only what requests allocate.
"""

from __future__ import annotations

import asyncio
import gc
import logging

from intents import chat_intent
from intents.tokenize import cut
from storage.cases import utcnow

from .runtime import Bot

log = logging.getLogger("appeals.bot")
SAMPLE = "东湖区幸福里小区路灯不亮，晚上很黑，请尽快修理"


def _load(bot: Bot) -> None:
    """Load and exercise every lazily built part once (on a worker thread)."""
    advisor = bot.engine.services.advisor
    advisor.warm(SAMPLE)
    cut(SAMPLE)
    advisor.locate(SAMPLE)
    advisor.urgency(SAMPLE)
    chat_intent.classify(SAMPLE)


async def warm_up(bot: Bot) -> None:
    """Load the NLP parts, the catalogue, the similar-case index and the knowledge index, then collect once and
    freeze what is left (all of it long-lived)."""
    try:
        await asyncio.to_thread(_load, bot)
        services = bot.engine.services
        await services.advisor.similar(SAMPLE, None, None, utcnow())  # the catalogue and the open cases
        await services.answer(SAMPLE)  # the knowledge base's index
    except Exception:  # noqa: BLE001 - a part that cannot load degrades later, politely, as before
        log.exception("warm-up failed; the parts load on first use")
    gc.collect()
    gc.freeze()
    log.info("warmed up: %d objects frozen out of the garbage collector's sight", gc.get_freeze_count())
