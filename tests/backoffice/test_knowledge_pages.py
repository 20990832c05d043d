"""Knowledge base in the back-office: suggestions and 直接答复 at the phone desk, the article pages."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from backoffice.keys import KNOWLEDGE
from bot.channels import webchat
from storage.knowledge import local_day, utcnow
from storage.lifecycle import CaseStatus
from storage.models import (
    Case,
    CaseEvent,
    CaseKind,
    Channel,
    KnowledgeArticle,
    KnowledgeRevision,
    KnowledgeStatus,
    RevisionStatus,
    Unit,
)
from tests.backoffice.conftest import City, build_app

SOCIAL = "社保关系转入江澜市：携带参保缴费凭证到市社保中心窗口办理，或在江澜社保App线上申请，约15个工作日完成。"
XSS = "<img src=x onerror=alert(1)>"


async def published(unit: Unit, questions: list[str], answer: str, source: str = "",
                    valid_to: dt.date | None = None, category: str = "社会保障") -> KnowledgeArticle:
    """Put a published article (revision 1) in place, as seeding does."""
    fields: dict[str, Any] = {"questions": questions, "answer": answer, "category": category, "source": source,
                              "valid_from": None, "valid_to": valid_to}
    article = await KnowledgeArticle.create(unit=unit, status=KnowledgeStatus.PUBLISHED, version=1, **fields)
    await KnowledgeRevision.create(article=article, number=1, status=RevisionStatus.PUBLISHED, **fields)
    return article


def call(text: str, **extra: str) -> dict[str, str]:
    """Return the phone-desk form of a call."""
    return {"text": text, "name": "李先生", "phone": "13700001111", "kind": "consultation", "urgency": "normal",
            **extra}


async def test_the_phone_desk_shares_the_bots_knowledge_base(database_url: str) -> None:
    app = build_app(database_url)
    assert app[KNOWLEDGE] is app[webchat.BOT].knowledge is not None


async def test_operator_sees_answers_and_records_a_direct_answer(login_as, city: City) -> None:
    social = await published(city.world.lead, ["社保怎么转移到江澜", "外地社保转入江澜怎么办理"], SOCIAL,
                             source="《社会保险关系转移接续办法》")
    await published(city.world.other, ["今年什么时候开始供暖", "供暖季从几号开始"], "每年11月15日开始供暖。",
                    category="城乡建设")
    operator = await login_as("operator")
    await operator.get("/intake")
    text = "请问外地的社保怎么转到江澜来？"
    status, page = await operator.post("/intake", call(text, do="suggest"))
    assert status == 200 and "知识库答案" in page
    assert SOCIAL in page and "《社会保险关系转移接续办法》；知识库#" in page and "市住房和城乡建设局" in page
    assert f'name="answer_with" value="{social.id}"' in page and "匹配度" in page

    status, page = await operator.post("/intake", call(text, kind="complaint", answer_with=str(social.id)))
    assert status == 400 and "直接答复只用于咨询类来电" in page and text in page  # the call stays on the form
    assert await Case.filter(text=text).count() == 0
    status, page = await operator.post("/intake", call(text, urgency="emergency", answer_with=str(social.id)))
    assert status == 409 and "紧急诉求须立即派单处置" in page and await Case.filter(text=text).count() == 0

    status, page = await operator.post("/intake", call(text, answer_with=str(social.id)))
    case = await Case.get(text=text)
    assert status == 200 and case.number in page and "直接答复" in page
    assert case.status is CaseStatus.RESOLVED and case.kind is CaseKind.CONSULTATION
    assert case.channel is Channel.PHONE and case.reply == SOCIAL
    assert case.suggestion["knowledge"]["article_id"] == social.id and case.suggestion["knowledge"]["accepted"]
    events = await CaseEvent.filter(case_id=case.id).order_by("id")
    assert [e.action.value for e in events] == ["submit", "answer_directly"]
    answered = events[-1]
    assert answered.staff_id == city.staff["operator"].id
    assert answered.data["direct"] is True and f"知识库#{social.id} 第1版" in answered.data["source"]


async def test_expired_article_is_never_suggested_nor_used(login_as, city: City) -> None:
    yesterday = local_day(utcnow()) - dt.timedelta(days=1)
    expired = await published(city.world.lead, ["供暖季从几号开始", "今年什么时候开始供暖"],
                              "去年的通知：11月20日开始供暖。", valid_to=yesterday, category="城乡建设")
    current = await published(city.world.lead, ["今年什么时候开始供暖"], "每年11月15日开始供暖。",
                              category="城乡建设")
    operator = await login_as("operator")
    await operator.get("/intake")
    status, page = await operator.post("/intake", call("供暖季从几号开始", do="suggest"))
    assert status == 200 and "每年11月15日开始供暖" in page
    assert "去年的通知" not in page and f'name="answer_with" value="{expired.id}"' not in page
    assert f'name="answer_with" value="{current.id}"' in page
    # Even a forged choice of the expired article is refused, and no case is left behind.
    status, page = await operator.post("/intake", call("供暖季从几号开始", answer_with=str(expired.id)))
    assert status == 409 and "有效期" in page
    assert await Case.all().count() == 0


async def test_article_lifecycle_through_the_pages(login_as, city: City) -> None:
    handler = await login_as("handler")
    status, page = await handler.get("/knowledge/new")
    assert status == 200
    status, page = await handler.post("/knowledge/new", {
        "questions": "公积金怎么提取\n住房公积金提取流程", "answer": "持身份证到公积金中心办理。",
        "category": "住房", "source": "《住房公积金管理条例》", "valid_from": "", "valid_to": ""})
    assert status == 200 and "已创建草稿" in page
    article = await KnowledgeArticle.get(unit_id=city.world.lead.id)
    status, page = await handler.post(f"/knowledge/{article.id}/submit", {})
    assert status == 200 and "已提交审核" in page

    # The operator reads every unit's articles but changes none.
    operator = await login_as("operator")
    status, page = await operator.get("/knowledge")
    assert status == 200 and "公积金怎么提取" in page
    status, page = await operator.post(f"/knowledge/{article.id}/approve", {})
    assert status == 403

    head = await login_as("head")
    status, page = await head.get(f"/knowledge/{article.id}")
    assert status == 200 and "审核通过并发布" in page
    status, page = await head.post(f"/knowledge/{article.id}/approve", {"note": "同意"})
    assert status == 200 and "已审核发布" in page
    await article.refresh_from_db()
    assert article.status is KnowledgeStatus.PUBLISHED and article.version == 1

    # Revision 2 is drafted while version 1 stays served; the history lists both.
    status, page = await handler.post(f"/knowledge/{article.id}/edit", {
        "questions": "公积金怎么提取", "answer": "线上办理：江澜公积金App。", "valid_to": "not a date"})
    assert status == 400 and "失效日期" in page and "valid_to" not in page.split("<form")[0]  # named as the form does
    assert "线上办理：江澜公积金App。</textarea>" in page  # the edit is still there to correct
    status, page = await handler.post(f"/knowledge/{article.id}/edit", {
        "questions": "公积金怎么提取", "answer": "线上办理。", "valid_from": "2026-12-01", "valid_to": "2026-11-01"})
    assert status == 400 and "失效日期不能早于生效日期" in page and 'value="2026-11-01"' in page
    status, page = await handler.post(f"/knowledge/{article.id}/edit", {
        "questions": "公积金怎么提取", "answer": "线上办理：江澜公积金App。"})
    assert status == 200 and "草稿已保存" in page and "版本历史" in page
    assert await KnowledgeRevision.filter(article_id=article.id).count() == 2
    await article.refresh_from_db()
    assert article.answer == "持身份证到公积金中心办理。"
    status, page = await head.post(f"/knowledge/{article.id}/withdraw", {})
    assert status == 200 and "已撤回" in page


async def test_a_unit_cannot_edit_another_units_article(login_as, city: City) -> None:
    article = await published(city.world.lead, ["公积金怎么提取"], "持身份证到公积金中心办理。")
    other = await login_as("other-handler")
    status, page = await other.get("/knowledge")
    assert status == 200 and "公积金怎么提取" not in page
    status, _ = await other.get(f"/knowledge/{article.id}")
    assert status == 403
    status, page = await other.post(f"/knowledge/{article.id}/edit", {"questions": "改掉", "answer": "改掉"})
    assert status == 403 and "只有该条目所属单位" in page
    status, _ = await other.post(f"/knowledge/{article.id}/withdraw", {})
    assert status == 403
    assert await KnowledgeRevision.filter(article_id=article.id).count() == 1
    await article.refresh_from_db()
    assert article.status is KnowledgeStatus.PUBLISHED and article.answer == "持身份证到公积金中心办理。"
    # Without the CSRF token the change never reaches the service.
    status, _ = await other.post(f"/knowledge/{article.id}/edit", {"questions": "x", "answer": "x"}, csrf=False)
    assert status == 403


async def test_the_author_cannot_approve_their_own_revision(login_as, city: City) -> None:
    head = await login_as("head")
    await head.get("/knowledge/new")
    status, _ = await head.post("/knowledge/new", {"questions": "居住证怎么办", "answer": "到派出所办理。"})
    assert status == 200
    article = await KnowledgeArticle.get(unit_id=city.world.lead.id)
    await head.post(f"/knowledge/{article.id}/submit", {})
    status, page = await head.get(f"/knowledge/{article.id}")
    assert status == 200 and "审核通过并发布" not in page and "其他负责人或督办员审核" in page
    status, page = await head.post(f"/knowledge/{article.id}/approve", {})
    assert status == 403 and "不是作者本人" in page
    await article.refresh_from_db()
    assert article.status is KnowledgeStatus.DRAFT and article.version == 0
    # A handler of the same unit is no reviewer either.
    handler = await login_as("handler")
    status, _ = await handler.post(f"/knowledge/{article.id}/approve", {})
    assert status == 403
    # A unit whose only head wrote it is not stuck: a platform supervisor reviews it.
    supervisor = await login_as("supervisor")
    status, page = await supervisor.get(f"/knowledge/{article.id}")
    assert status == 200 and "审核通过并发布" in page
    status, page = await supervisor.post(f"/knowledge/{article.id}/approve", {"note": "同意"})
    assert status == 200 and "已审核发布" in page
    await article.refresh_from_db()
    assert article.status is KnowledgeStatus.PUBLISHED


async def test_article_text_is_escaped_everywhere(login_as, city: City) -> None:
    article = await published(city.world.lead, [f"供暖季从几号开始{XSS}"], f"11月15日开始。{XSS}", source=XSS)
    handler = await login_as("handler")
    for path in ("/knowledge", f"/knowledge/{article.id}"):
        status, page = await handler.get(path)
        assert status == 200 and "&lt;img src=x onerror=alert(1)&gt;" in page and XSS not in page
    operator = await login_as("operator")
    await operator.get("/intake")
    status, page = await operator.post("/intake", call("供暖季从几号开始", do="suggest"))
    assert status == 200 and "11月15日开始。&lt;img src=x onerror=alert(1)&gt;" in page and XSS not in page


async def test_live_answers_are_json_for_operators_only(login_as, city: City) -> None:
    social = await published(city.world.lead, ["社保怎么转移到江澜"], SOCIAL)
    operator = await login_as("operator")
    status, body = await operator.get("/intake/answers?text=外地社保怎么转到江澜")
    answers = json.loads(body)["answers"]
    assert status == 200 and [a["article_id"] for a in answers] == [social.id] and answers[0]["answer"] == SOCIAL
    status, body = await operator.get("/intake/answers?text=社保")  # too short to look up
    assert status == 200 and json.loads(body) == {"answers": []}
    handler = await login_as("handler")
    status, _ = await handler.get("/intake/answers?text=外地社保怎么转到江澜")
    assert status == 403
