"""The case page and its action forms, posting to CaseService.apply with the version seen."""

from __future__ import annotations

from aiohttp import web

from storage.errors import CaseError, CaseNotFound
from storage.labels import label
from storage.lifecycle import Action
from storage.models import Channel, Urgency

from ..auth import current_actor
from ..forms import payload_from_form
from ..i18n import lang, tr
from ..ids import db_id
from ..keys import CASES, SESSION, SUGGESTER
from ..operations import act, case_detail
from ..sessions import now
from .common import error_page, redirect, render
from .queues import CHANNELS, URGENCIES


def _done_label(value: str, language: str) -> str:
    if value == "submit":
        return "已登记" if language != "en" else "Recorded"
    try:
        return label(Action(value), language)
    except ValueError:
        return ""


def _case_id(request: web.Request) -> int:
    raw = request.match_info["case_id"]
    case_id = db_id(raw)
    if case_id is None:
        raise CaseNotFound()
    return case_id


async def _show(request: web.Request, error: str = "", status: int = 200, form_action: str = "") -> web.Response:
    _, actor = current_actor(request)
    detail = await case_detail(actor, _case_id(request), request.get(SESSION), lang(request), now(),
                               request.app[SUGGESTER])
    i = 1 if lang(request) == "en" else 0
    return await render(request, "case.html", {
        "d": detail, "c": detail.case, "can_merge": any(f.action == "merge" for f in detail.forms),
        "error": error, "error_action": form_action,
        "channel": CHANNELS[Channel(detail.case.channel)][i], "urgency": URGENCIES[Urgency(detail.case.urgency)][i],
        "done": _done_label(request.query.get("done", ""), lang(request)),
    }, status=status)


async def case_page(request: web.Request) -> web.Response:
    """Show one case: words, place, suggestions, similar cases, timeline, clocks and allowed actions."""
    try:
        return await _show(request)
    except CaseNotFound as exc:
        return await error_page(request, 404, exc.message(lang(request)))


async def case_action(request: web.Request) -> web.Response:
    """Apply one action from its form; refusals re-show the page with the reason and change nothing."""
    _, actor = current_actor(request)
    try:
        action = Action(request.match_info["action"])
    except ValueError:
        return await error_page(request, 400, tr(request, "没有这个操作。", "No such action."))
    form = await request.post()
    raw_version = str(form.get("expected_version", ""))
    if db_id(raw_version) is None:
        return await error_page(request, 400, tr(request, "表单缺少版本号，请刷新页面。",
                                                 "The form lost its version; reload."))
    try:
        case_id = _case_id(request)
        await act(request.app[CASES], actor, request.get(SESSION), case_id, action,
                  payload_from_form(action, form), int(raw_version))
    except CaseNotFound as exc:
        return await error_page(request, 404, exc.message(lang(request)))
    except CaseError as exc:
        return await _show(request, exc.message(lang(request)), exc.status_code, action.value)
    return redirect(f"/cases/{case_id}?done={action.value}")
