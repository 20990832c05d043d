"""The advisor degrades to the category menu without a model and uses the shipped model when there is one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.services import Advisor
from tests.bot.conftest import make_engine
from tests.support.chat import Chat


async def test_a_missing_model_means_no_suggestion_and_a_category_menu(city: str, tmp_path: Path) -> None:
    advisor = Advisor(model_path=tmp_path / "no-such-model.npz")
    assert await advisor.suggest("东湖区幸福里小区路灯坏了") == []
    engine = make_engine()
    engine.services.advisor = advisor
    chat = Chat(engine)
    await chat.tap("submit")
    assert "请选择问题类别" in await chat.say("东湖区幸福里小区路灯坏了一个月")
    assert "cat:城乡建设" in chat.buttons() and "unsure" in chat.buttons()


async def test_the_shipped_model_suggests_a_category_and_a_unit(city: str) -> None:
    from intents import classifier

    if not Path(classifier.DEFAULT_MODEL_PATH).exists():
        pytest.skip("no classifier model is shipped in this checkout")
    suggestions = await Advisor().suggest("东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑", "东湖区")
    assert suggestions and suggestions[0]["category"] and 0 < suggestions[0]["score"] <= 1
