"""Phone intake (代录): an operator records a call as a case, with the classifier's suggestion."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from tortoise.transactions import in_transaction

from bot.dialog.parsers import phone
from storage.cases import NewCase
from storage.effects import catalogue_categories, catalogue_category
from storage.errors import CaseError
from storage.knowledge import Answer, KnowledgeError, record_direct_answer
from storage.lifecycle import Actor, Role
from storage.models import CaseKind, Channel, Urgency

from ..auth import current_actor
from ..i18n import lang, tr
from ..ids import db_id
from ..keys import CASES, KNOWLEDGE, SUGGESTER
from ..operations import record_call
from .common import error_page, redirect, render

KINDS = {CaseKind.COMPLAINT: ("投诉", "Complaint"), CaseKind.REPORT: ("举报", "Report"),
         CaseKind.REQUEST: ("求助", "Request"), CaseKind.SUGGESTION: ("建议", "Suggestion"),
         CaseKind.CONSULTATION: ("咨询", "Consultation"), CaseKind.PRAISE: ("表扬", "Praise")}
URGENCY = {Urgency.NORMAL: ("一般", "Normal"), Urgency.URGENT: ("加急", "Urgent"),
           Urgency.EMERGENCY: ("紧急", "Emergency")}
FIELDS = ("text", "title", "name", "phone", "address", "district", "street", "category", "kind", "urgency")


async def knowledge_answers(request: web.Request, text: str) -> list[Answer]:
    """Return up to 3 served knowledge articles for the caller's words (none without a shared base)."""
    base = request.app.get(KNOWLEDGE)
    return await base.suggestions(text, limit=3) if base is not None and text.strip() else []


async def answer_directly(request: web.Request, actor: Actor, new: NewCase, name: str, phone: str,
                          article_id: int, answers: list[Answer]) -> int:
    """Record the call as a consultation and resolve it at once with the article (直接答复); return the case id."""
    offered = next((a for a in answers if a.article_id == article_id), None)
    knowledge = offered.as_suggestion(accepted=True) if offered else {
        "knowledge": {"article_id": article_id, "accepted": True}}
    new = NewCase(**{**new.__dict__, "kind": CaseKind.CONSULTATION, "suggestion": {**new.suggestion, **knowledge},
                     "category": new.category or (offered.category if offered else None) or None})
    async with in_transaction():  # an article withdrawn meanwhile leaves no case behind
        case = await record_call(request.app[CASES], actor, new, name, phone)
        await record_direct_answer(case.id, article_id, actor, request.app[CASES])
    return case.id


class IntakeError(ValueError):
    """The call record has a value that cannot be used."""


def parse_call(data: dict[str, Any]) -> tuple[NewCase, str, str]:
    """Turn form or JSON fields into a NewCase plus the caller's name and phone."""
    def text(name: str, limit: int) -> str:
        value = data.get(name, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            raise IntakeError(name)
        return value.strip()[:limit]

    try:
        kind = CaseKind(text("kind", 16) or CaseKind.COMPLAINT.value)
        urgency = Urgency(text("urgency", 16) or Urgency.NORMAL.value)
    except ValueError:
        raise IntakeError("kind/urgency") from None
    flags = {}
    for name in ("anonymous", "confidential"):
        value = data.get(name, False)
        if isinstance(value, str):
            value = value in ("1", "on", "true", "yes")
        if not isinstance(value, bool):
            raise IntakeError(name)
        flags[name] = value
    new = NewCase(
        text=text("text", 8000), title=text("title", 200), channel=Channel.PHONE,
        category=text("category", 32) or None, kind=kind, urgency=urgency, address=text("address", 255),
        district=text("district", 64) or None, street=text("street", 64) or None, **flags,
    )
    raw_phone = text("phone", 32)
    number = phone(raw_phone) if raw_phone else ""
    if raw_phone and (number is None or len(number) < len(re.sub(r"\D", "", raw_phone)) - 2):
        raise IntakeError("phone")  # "abc123" is no number; a number with words around it is not one either
    return new, text("name", 64), number or ""


def _form_dict(form: MultiDictProxy[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: str(form.get(k, "")) for k in FIELDS}
    out.update(anonymous=form.get("anonymous") == "1", confidential=form.get("confidential") == "1")
    return out


async def _page(request: web.Request, values: dict[str, Any], status: int = 200, **extra: Any) -> web.Response:
    i = 1 if lang(request) == "en" else 0
    return await render(request, "intake.html", {
        "v": values, "kinds": [(k.value, v[i]) for k, v in KINDS.items()],
        "urgencies": [(u.value, v[i]) for u, v in URGENCY.items()], "catalogue": await catalogue_categories(), **extra,
    }, status=status)


async def intake_form(request: web.Request) -> web.Response:
    """Show the call-record form."""
    _, actor = current_actor(request)
    if Role.OPERATOR not in actor.roles:
        return await error_page(request, 403, tr(request, "只有话务员可以代录。", "Only operators record calls."))
    return await _page(request, {"kind": "complaint", "urgency": "normal"})


async def intake_answers(request: web.Request) -> web.Response:
    """Answer the phone desk's typing with the best knowledge articles, as JSON (GET, changes nothing)."""
    _, actor = current_actor(request)
    if Role.OPERATOR not in actor.roles:
        raise web.HTTPForbidden(text=tr(request, "只有话务员可以代录。", "Only operators record calls."))
    text = request.query.get("text", "")[:2000]
    answers = await knowledge_answers(request, text) if len(text.strip()) >= 4 else []
    return web.json_response({"answers": [
        {"article_id": a.article_id, "question": a.question, "answer": a.answer, "unit": a.unit_name,
         "source": a.citation(), "score": round(a.score, 3), "confident": a.confident}
        for a in answers
    ]})


async def intake_submit(request: web.Request) -> web.Response:
    """Suggest (button 建议) or record (button 登记) a phone call as a case."""
    _, actor = current_actor(request)
    if Role.OPERATOR not in actor.roles:
        return await error_page(request, 403, tr(request, "只有话务员可以代录。", "Only operators record calls."))
    form = await request.post()
    values = _form_dict(form)
    try:
        new, name, phone = parse_call(values)
    except IntakeError as exc:
        if str(exc) == "phone":
            message = tr(request, "联系电话格式不对：请填写11位手机号或带区号的固定电话。",
                         "The phone number is not valid: an 11-digit mobile or a landline with its area code.")
        else:
            message = tr(request, "表单有误。", "The form is not valid.")
        return await _page(request, values, error=message, status=400)
    proposal = await request.app[SUGGESTER].propose(new.text, new.district)
    if form.get("do") != "suggest":
        try:  # what the operator typed: the classifier's own suggestion is the catalogue's already
            await catalogue_category(new.category or "")
        except CaseError as exc:
            return await _page(request, values, error=exc.message(lang(request)), proposal=proposal, status=400)
    if form.get("do") == "suggest":
        if not values["category"] and proposal.categories:
            values["category"] = proposal.categories[0]["category"]
        if not values["district"] and proposal.district:
            values["district"], values["street"] = proposal.district, proposal.street or ""
        return await _page(request, values, proposal=proposal, answers=await knowledge_answers(request, new.text))
    new = NewCase(**{**new.__dict__, "suggestion": proposal.as_suggestion(),
                     "category": new.category or proposal.as_suggestion().get("category"),
                     "district": new.district or proposal.district})
    if "answer_with" in form:  # 直接答复 with one of the suggested articles
        article_id = db_id(str(form.get("answer_with", "")))
        answers = await knowledge_answers(request, new.text)
        if new.kind is not CaseKind.CONSULTATION:  # closing the call at once is the operator's explicit choice
            return await _page(request, values, error=tr(
                request, "直接答复只用于咨询类来电：请把“诉求类型”选为“咨询”，"
                "确认答案能解答来电人的问题后再点“直接答复”。",
                "Answering directly is for questions only: set Kind to Consultation, make sure the answer settles the "
                "caller's question, then press Answered directly."), proposal=proposal, answers=answers, status=400)
        try:
            if article_id is None:
                raise KnowledgeError("not_found", 404)
            case_id = await answer_directly(request, actor, new, name, phone, article_id, answers)
        except (CaseError, KnowledgeError) as exc:
            return await _page(request, values, error=exc.message(lang(request)), proposal=proposal,
                               answers=answers, status=exc.status_code)
        return redirect(f"/cases/{case_id}?done=answer_directly")
    try:
        case = await record_call(request.app[CASES], actor, new, name, phone)
    except CaseError as exc:
        return await _page(request, values, error=exc.message(lang(request)), proposal=proposal, status=400)
    return redirect(f"/cases/{case.id}?done=submit")
