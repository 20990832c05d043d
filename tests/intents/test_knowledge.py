"""Knowledge retrieval: paraphrases and typos find the right article; off-topic questions are refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from intents.knowledge import KnowledgeDoc, KnowledgeIndex, core, terms

ARTICLES = {
    "pension-transfer": (("社保关系怎么从外地转到本市？", "换城市工作了社保怎么转移"),
                         "职工养老保险关系跨省转移可在新参保地网上申请，原参保地自动转出。"),
    "fund-withdraw": (("公积金怎么提取", "租房能提公积金吗"),
                      "购房、还贷、租房自住、退休等情形可提取住房公积金，线上办理当日到账。"),
    "heating-season": (("今年什么时候开始供暖", "供暖季是几号到几号"),
                       "本年度法定供暖期为11月15日至次年3月15日。"),
    "water-cut": (("家里突然停水了怎么办", "停水了打什么电话报修"),
                  "停水、爆管请拨打水务集团24小时热线96118报修，抢修4小时内到场。"),
    "school-entry": (("孩子上小学怎么报名", "一年级入学需要什么材料"),
                     "义务教育入学每年6月网上报名，需户口簿和房产或租房证明。"),
    "hukou-move": (("怎么把户口迁到本市", "外地户口迁入需要什么条件"),
                   "有合法稳定住所即可申请落户，到住所地派出所户籍窗口办理。"),
    "id-card": (("身份证丢了怎么补办", "异地可以补办身份证吗"),
                "身份证可在任一派出所补领，本人到场，收费20元。"),
    "gas-leak": (("闻到煤气味怎么办", "家里燃气泄漏怎么处理"),
                 "立即关闭燃气总阀、开窗通风，不要开关电器，到户外拨打燃气抢修电话。"),
    "prepaid-card": (("健身房关门了预付卡怎么退", "预付卡商家跑路怎么办"),
                     "经营者停业未告知的，可要求退还余额，向市场监管部门或12315投诉。"),
    "bus-elderly": (("老年人坐公交免费吗", "敬老卡怎么办理"),
                    "65周岁以上凭敬老卡免费乘坐市内公交。"),
}

PARAPHRASES = [
    ("我换工作到这边了，以前在外省交的社保怎么转过来", "pension-transfer"),
    ("社保转移", "pension-transfer"),
    ("租房子可以取公积金吗", "fund-withdraw"),
    ("暖气几号开始烧", "heating-season"),
    ("小区停水了找谁", "water-cut"),
    ("孩子明年上一年级要准备啥材料", "school-entry"),
    ("户口迁过来怎么办", "hukou-move"),
    ("闻到燃气味道了", "gas-leak"),
    ("健身卡商家跑路了怎么退钱", "prepaid-card"),
    ("老人坐公交要钱吗", "bus-elderly"),
]
TYPOS = [
    ("公基金怎么提取", "fund-withdraw"),  # 积 → 基 (same pinyin)
    ("身分证丢了怎么补", "id-card"),  # 份 → 分
    ("什么时侯开始供暖", "heating-season"),  # 候 → 侯
    ("家里突然停氺了", "water-cut"),  # 水 → 氺
    ("户口签到本市要什么条件", "hukou-move"),  # 迁 → 签
]
OFF_TOPIC = ["今天天气怎么样", "你们领导叫什么名字", "帮我查一下我的案件进度", "楼下烧烤油烟太大",
             "我要投诉邻居装修噪音"]


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    """An index of the articles above."""
    return KnowledgeIndex(KnowledgeDoc(key, qs, answer) for key, (qs, answer) in ARTICLES.items())


@pytest.mark.parametrize(("question", "expected"), PARAPHRASES + TYPOS)
def test_paraphrases_and_typos_find_the_right_article(index: KnowledgeIndex, question: str, expected: str) -> None:
    best = index.best(question)
    assert best is not None, index.search(question)
    assert best.article_id == expected


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_below_the_threshold_it_refuses(index: KnowledgeIndex, question: str) -> None:
    assert index.best(question) is None, index.search(question)


@pytest.mark.parametrize("reply", ["20", "65", "12315", "好的", "嗯嗯", "ok"])
def test_a_number_or_a_filler_word_is_no_question(index: KnowledgeIndex, reply: str) -> None:
    assert index.best(reply) is None, index.search(reply)  # a citizen typing "20" at the menu asks nothing


def test_a_bare_number_matches_an_article_fully_yet_is_refused(index: KnowledgeIndex) -> None:
    hits = index.search("96118")
    assert hits and hits[0].article_id == "water-cut" and hits[0].score >= index.threshold
    assert index.best("96118") is None and not index.confident("96118", hits[0].score)
    assert index.best("96118是什么电话") is not None  # with words around it, it is a question


def test_search_ranks_with_scores_in_unit_range(index: KnowledgeIndex) -> None:
    hits = index.search("公积金", limit=3)
    assert hits[0].article_id == "fund-withdraw"
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_an_expired_article_is_never_returned() -> None:
    today = dt.date(2026, 11, 26)
    docs = [
        KnowledgeDoc("old", ("今年什么时候开始供暖",), "去年的供暖期。", valid_to=today - dt.timedelta(days=1)),
        KnowledgeDoc("later", ("今年什么时候开始供暖",), "明年的供暖期。", valid_from=today + dt.timedelta(days=1)),
        KnowledgeDoc("other", ("公积金怎么提取",), "提取公积金。"),
    ]
    index = KnowledgeIndex(docs)
    assert all(h.article_id not in {"old", "later"} for h in index.search("什么时候开始供暖", limit=3, day=today))
    assert index.best("什么时候开始供暖", day=today) is None
    assert index.best("什么时候开始供暖", day=today - dt.timedelta(days=1)).article_id == "old"  # type: ignore[union-attr]


def test_an_empty_index_and_an_empty_question_answer_nothing(index: KnowledgeIndex) -> None:
    assert KnowledgeIndex([]).best("公积金怎么提取") is None
    assert index.search("") == [] and index.best("？？？") is None


def test_terms_are_words_bigrams_and_characters() -> None:
    bag = terms("公积金怎么提取？")
    assert {"w:公积金", "b:积金", "c:积"} <= set(bag)
    assert "w:怎么" not in bag and core("请问公积金怎么提取？") == "公积金提取"


def test_the_demo_knowledge_base_answers_its_own_questions() -> None:
    path = Path(__file__).parents[2] / "storage" / "demo" / "knowledge.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert len(entries) >= 30
    index = KnowledgeIndex(KnowledgeDoc(i, tuple(e["questions"]), e["answer"]) for i, e in enumerate(entries))
    for entry in entries:
        for question in entry["questions"]:
            best = index.best(question)
            assert best is not None and entry["questions"][0] in {entries[best.article_id]["questions"][0]}, question
