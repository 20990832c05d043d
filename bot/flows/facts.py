"""A case told to its citizen: status in plain words, unit, deadline and the public timeline."""

from __future__ import annotations

from storage.deadlines import local
from storage.labels import label
from storage.lifecycle import Action, CaseStatus
from storage.models import Case, CaseEvent, CaseFollower, Unit

from ..dialog.flow import Ctx
from ..messages import Outbound
from ..texts import meaning

#: Timeline entries a citizen sees; internal notes, unmasking and labels stay in the back-office.
PUBLIC_ACTIONS = frozenset({
    Action.SUBMIT, Action.ACCEPT, Action.REJECT, Action.MERGE, Action.DISPATCH, Action.SIGN,
    Action.CONTACT, Action.APPROVE_EXTENSION, Action.APPROVE_REPLY, Action.CALLBACK,
    Action.EVALUATE, Action.REOPEN, Action.ARCHIVE, Action.PROGRESS_NOTE,
})
MAX_EVENTS = 12


async def timeline(case: Case, language: str) -> str:
    """Return the public timeline, one line per event, oldest first."""
    lines = []
    for event in await CaseEvent.filter(case_id=case.id).order_by("id"):
        if event.action not in PUBLIC_ACTIONS:
            continue
        if event.action is Action.PROGRESS_NOTE and not (event.data or {}).get("public"):
            continue
        line = f"· {local(event.created_at)} {label(event.action, language)}"
        note = (event.data or {}).get("note") if event.action is Action.PROGRESS_NOTE else None
        lines.append(f"{line}：{note}" if note else line)
    return "\n".join(lines[-MAX_EVENTS:])


async def case_facts(ctx: Ctx, case: Case) -> Outbound:
    """Tell the case's status, unit, deadline, timeline and reply."""
    status = CaseStatus(case.status)
    unit = await Unit.get_or_none(id=case.lead_unit_id) if case.lead_unit_id else None
    unit_name = (unit.name_en or unit.name_zh if ctx.language == "en" else unit.name_zh) if unit else None
    text = ctx.text(
        "query.detail", number=case.number, status=label(status, ctx.language), meaning=meaning(status, ctx.language),
        unit=unit_name or ctx.text("query.unit_none"), due=local(case.due_at) or ctx.text("query.due_none"),
        timeline=await timeline(case, ctx.language),
    )
    if case.reply and status in (CaseStatus.RESOLVED, CaseStatus.EVALUATED, CaseStatus.ARCHIVED):
        text += "\n" + ctx.text("query.reply", reply=case.reply)
    if status is CaseStatus.REJECTED:  # the reason is the citizen's to know (it was sent, and may be lost)
        rejected = await CaseEvent.filter(case_id=case.id, action=Action.REJECT).order_by("-id").first()
        if rejected is not None and (rejected.data or {}).get("reason"):
            text += "\n" + ctx.text("query.rejected", reason=rejected.data["reason"])
    if status is CaseStatus.MERGED and case.parent_id:  # the same matter, handled as the other: tell how that goes
        parent = await Case.get_or_none(id=case.parent_id)
        if parent is not None:
            text += "\n" + ctx.text("query.merged", parent=parent.number,
                                    status=label(CaseStatus(parent.status), ctx.language))
            if parent.reply and CaseStatus(parent.status) in (CaseStatus.RESOLVED, CaseStatus.EVALUATED,
                                                              CaseStatus.ARCHIVED):
                text += "\n" + ctx.text("query.reply", reply=parent.reply)
    buttons = ()
    if status is CaseStatus.RESOLVED and case.citizen_id == ctx.citizen_id:
        buttons = (ctx.choice(f"go:evaluate:{case.id}", "query.rate_it"),)
    elif status is CaseStatus.RESOLVED and not await CaseFollower.exists(case_id=case.id, citizen_id=ctx.citizen_id):
        text += "\n" + ctx.text("query.rate_elsewhere", hotline=ctx.services.hotline)  # found by number and code
    return Outbound(text, buttons, "choice" if buttons else "text")
