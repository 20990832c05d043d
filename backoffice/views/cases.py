"""The case page and its action forms, posting to CaseService.apply with the version seen."""

from __future__ import annotations

from aiohttp import web

from storage.errors import CaseError, CaseNotFound
from storage.lifecycle import Action

from ..auth import current_actor
from ..forms import payload_from_form
from ..i18n import lang, tr
from ..keys import CASES, SESSION, SUGGESTER
from ..operations import act, case_detail
from ..sessions import now
from .common import error_page, redirect, render


def _case_id(request: web.Request) -> int:
    raw = request.match_info["case_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise CaseNotFound()
    return int(raw)


async def _show(request: web.Request, error: str = "", status: int = 200, form_action: str = "") -> web.Response:
    _, actor = current_actor(request)
    detail = await case_detail(actor, _case_id(request), request.get(SESSION), lang(request), now(),
                               request.app[SUGGESTER])
    return await render(request, "case.html", {
        "d": detail, "c": detail.case, "error": error, "error_action": form_action,
        "done": request.query.get("done", ""),
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
    if not raw_version.isdigit():
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
