"""The case page and its action forms, posting to CaseService.apply with the version seen."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from markupsafe import Markup

from bot import uploads
from storage.effects import catalogue_categories
from storage.errors import CaseError, CaseNotFound
from storage.labels import label
from storage.lifecycle import Action
from storage.models import Attachment, Channel, Urgency

from .. import maps, photos
from ..access import hides_citizen, visible_case
from ..auth import current_actor
from ..forms import payload_from_form
from ..i18n import lang, tr
from ..ids import db_id
from ..keys import CASES, SESSION, SETTINGS, SUGGESTER
from ..operations import CaseDetail, act, case_detail
from ..sessions import now
from .common import error_page, redirect, render
from .queues import CHANNELS, URGENCIES


def _done_label(value: str, language: str) -> str:
    if value == "submit":
        return "已登记" if language != "en" else "Recorded"
    if value == "callback":
        return ("Call-back recorded; a dissatisfied or unsolved result sends the case back to its unit (重办) "
                "within minutes") if language == "en" else "已记录回访；不满意或未解决的，几分钟内自动重办"
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


async def _media(request: web.Request, detail: CaseDetail) -> dict[str, object]:
    """Return the case's photos and its map, by the same masking rules as the citizen block."""
    c = detail.case
    rows = await Attachment.filter(case_id=c.id).order_by("id").values_list("id", "filename", "content_type")
    shown = [{"id": i, "url": f"/cases/{c.id}/photos/{i}", "thumb": f"/cases/{c.id}/photos/{i}?size=thumb", "n": n}
             for n, (i, _, kind) in enumerate(rows, start=1) if kind in photos.EXTENSIONS]
    hidden = bool(detail.citizen.get("hidden"))
    place = maps.case_map(
        request.app.get(maps.PLACES), latitude=c.latitude, longitude=c.longitude, district=c.district,
        address_text=" ".join(x for x in (c.address, c.street, c.text) if x), hidden=hidden,
        unmasked=not detail.citizen.get("masked", True), lang=lang(request))
    return {"photos": shown, "place": place, "map_svg": Markup(place.svg)}  # built by maps.draw, names escaped


async def _show(request: web.Request, error: str = "", status: int = 200, form_action: str = "",
                kept: dict[str, list[str]] | None = None) -> web.Response:
    _, actor = current_actor(request)
    detail = await case_detail(actor, _case_id(request), request.get(SESSION), lang(request), now(),
                               request.app[SUGGESTER])
    i = 1 if lang(request) == "en" else 0
    return await render(request, "case.html", {
        **await _media(request, detail),
        "d": detail, "c": detail.case, "can_merge": any(f.action == "merge" for f in detail.forms),
        # A refused form's values, to correct: each field's last (a co-unit list keeps them all).
        "error": error, "error_action": form_action, "kept": {k: v[-1] for k, v in (kept or {}).items() if v},
        "kept_lists": kept or {},
        "catalogue": await catalogue_categories(),
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
        kept = {k: [str(v) for v in form.getall(k)] for k in set(form) if k not in ("csrf_token", "expected_version")}
        return await _show(request, exc.message(lang(request)), exc.status_code, action.value, kept)
    return redirect(f"/cases/{case_id}?done={action.value}")


async def case_photo(request: web.Request) -> web.StreamResponse:
    """Serve a photo of a case the staff member may see: sniffed type, nosniff, inline, metadata removed."""
    _, actor = current_actor(request)
    not_found = tr(request, "没有这张照片。", "No such photo.")
    try:
        case = await visible_case(actor, _case_id(request))  # 404 (and audited) for a case out of reach
    except CaseNotFound as exc:
        return await error_page(request, 404, exc.message(lang(request)))
    photo_id = db_id(request.match_info["photo_id"])
    row = await Attachment.get_or_none(id=photo_id, case_id=case.id) if photo_id is not None else None
    if row is None:
        return await error_page(request, 404, not_found)
    path = Path(row.path).resolve()
    if not path.is_relative_to(request.app[SETTINGS].data_dir.resolve()) or not path.is_file():
        return await error_page(request, 404, not_found)
    name = "" if hides_citizen(case, actor) else row.filename  # "张三家门口.jpg" names the citizen of a 保密件
    # no-store: access ends with a transfer, and office computers are shared
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    if request.query.get("size") == "thumb":  # the case page's small copy; the full picture stays one click away
        small = await asyncio.to_thread(photos.kept_thumbnail, path)  # pixels only: no metadata to remove
        if small is not None:
            headers["Content-Disposition"] = photos.disposition("inline", row.id, name, small[1])
            return web.Response(body=small[0], content_type=small[1], headers=headers)
        # Pillow cannot shrink it: the cleaned original instead, as below
    data = await asyncio.to_thread(path.read_bytes)
    try:
        kind = uploads.sniff(data).content_type
        body = await asyncio.to_thread(photos.without_metadata, data, kind)  # a pass over up to 5 MB
    except (uploads.UploadRejected, photos.BadImage):
        if hides_citizen(case, actor):  # its hidden data (camera GPS) cannot be removed: not for the unit
            return await error_page(request, 404, tr(
                request, "这张照片的隐藏信息无法去除，保密件的原文件不提供给承办单位。",
                "This photo's hidden data cannot be removed, so a confidential case's original file is not "
                "given to the handling unit."))
        # Not an image we can vouch for: a download, never shown inline (DOMAIN abuse cases 12-13).
        headers["Content-Disposition"] = photos.disposition("attachment", row.id, name, "")
        return web.Response(body=data, content_type="application/octet-stream", headers=headers)
    headers["Content-Disposition"] = photos.disposition("inline", row.id, name, kind)
    return web.Response(body=body, content_type=kind, headers=headers)
