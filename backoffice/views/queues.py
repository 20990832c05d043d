"""Queue pages: the role's work lists with filters, search and keyset pagination."""

from __future__ import annotations

from aiohttp import web

from storage.labels import CHANNEL, STATUS
from storage.lifecycle import CaseStatus
from storage.models import Channel, Unit, Urgency

from .. import queues
from ..access import hides_citizen
from ..auth import current_actor
from ..i18n import lang, tr
from ..masking import street_level, text_view
from ..operations import clocks
from ..sessions import now
from .common import error_page, redirect, render

CHANNELS = CHANNEL
URGENCIES = {Urgency.NORMAL: ("一般", "Normal"), Urgency.URGENT: ("加急", "Urgent"),
             Urgency.EMERGENCY: ("紧急", "Emergency")}


async def home(request: web.Request) -> web.Response:
    """Go to the first queue of the signed-in staff member."""
    _, actor = current_actor(request)
    return redirect(f"/queues/{queues.queues_for(actor)[0].key}")


async def queue_page(request: web.Request) -> web.Response:
    """List one queue's cases the user may see, filtered and paged."""
    _, actor = current_actor(request)
    queue = queues.BY_KEY.get(request.match_info["queue"])
    if queue is None or queue not in queues.queues_for(actor):
        return await error_page(request, 404, tr(request, "没有这个队列。", "No such queue."))
    try:
        filters = queues.parse_filters(request.query)
    except queues.BadFilter as exc:
        return await error_page(request, 400, tr(request, f"筛选条件有误：{exc}", f"Invalid filter: {exc}"))
    moment = now()
    page = await queues.page(actor, queue, filters, moment)
    language = lang(request)
    i = 1 if language == "en" else 0
    rows = []
    for case in page.cases:
        rows.append({
            "case": case, "status": STATUS[CaseStatus(case.status)][i],
            "title": text_view(case.title or case.text[:30], masked=True),
            "place": (case.district or "") if hides_citizen(case, actor) else street_level(case),
            "clocks": clocks(case, moment, language),
            "urgency": URGENCIES[Urgency(case.urgency)][i], "channel": CHANNELS[Channel(case.channel)][i],
        })
    units = await Unit.filter(active=True).order_by("id").values_list("id", "name_en" if i else "name_zh")
    return await render(request, "queue.html", {
        "queue": queue, "queue_label": queue.en if i else queue.zh, "rows": rows, "filters": filters,
        "next_link": f"?{filters.query_string(cursor=page.next_cursor)}" if page.next_cursor else None,
        "statuses": [(s.value, STATUS[s][i]) for s in CaseStatus],
        "channels": [(c.value, v[i]) for c, v in CHANNELS.items()],
        "urgencies": [(u.value, v[i]) for u, v in URGENCIES.items()], "units": units,
    })
