"""200 web-chat conversations at once over real websockets: one case number each, no error."""

from __future__ import annotations

import asyncio
import re

from storage.models import Case
from tests.support.webchat import WebChat

from .test_webchat import submit

CONVERSATIONS = 200
PLACES = ("东湖区幸福里小区", "西山区人民路", "南港区港湾大道", "东湖区东风路", "西山区矿山新村")
PROBLEMS = ("路灯不亮", "下水道堵塞", "夜间施工噪音", "垃圾无人清运", "占道经营")


async def one(base: str, i: int) -> str:
    chat = await WebChat(base).open()
    try:
        text = f"{PLACES[i % 5]}{i}号楼附近{PROBLEMS[(i // 5) % 5]}，已经持续{i % 9 + 2}天，编号{i}"
        done = await submit(chat, text)
        assert not any(m.get("code") for m in chat.last), chat.last
        return done
    finally:
        await chat.close()


async def test_200_concurrent_submissions_each_get_exactly_one_case(base: str) -> None:
    done = await asyncio.wait_for(asyncio.gather(*(one(base, i) for i in range(CONVERSATIONS))), timeout=120)
    numbers = [re.search(r"\d{4}-\d{8}-\d{5}", d) for d in done]
    assert all(numbers), [d for d, n in zip(done, numbers, strict=True) if not n][:3]
    assert len({n.group(0) for n in numbers if n}) == CONVERSATIONS
    assert await Case.all().count() == CONVERSATIONS
