"""Query: my cases by channel identity, or any case by number and tracking code."""

from __future__ import annotations

import datetime as dt

from storage.labels import label
from storage.lifecycle import CaseStatus
from storage.models import Case

from ..dialog.flow import MENU, Ctx, Flow, Ok, Reask, Result, Step
from ..dialog.parsers import case_number, clean, tracking, typed_case_number
from ..messages import Choice, Inbound, Outbound
from .facts import case_facts

MY_CASES = 5
MAX_CODE_FAILURES = 5
CODE_LOCK = dt.timedelta(minutes=15)


async def _mine(ctx: Ctx) -> list[Case]:
    """Return the citizen's latest cases: their own and those they follow (关注), newest first."""
    own = await Case.filter(citizen_id=ctx.citizen_id).order_by("-id").limit(MY_CASES)
    followed = await Case.filter(followers__citizen_id=ctx.citizen_id).order_by("-id").limit(MY_CASES)
    return sorted({c.id: c for c in own + followed}.values(), key=lambda c: -c.id)[:MY_CASES]


async def mine_prompt(ctx: Ctx) -> list[Outbound] | None:
    """List the citizen's own cases on this channel, and those they follow."""
    cases = await _mine(ctx)
    if not cases:
        ctx.say("query.none")
        return None
    buttons = [Choice(f"case:{c.id}", ("" if c.citizen_id == ctx.citizen_id else ctx.text("query.followed"))
                      + f"{c.number} {label(c.status, ctx.language)}") for c in cases]
    buttons.append(ctx.choice("other", "query.other"))
    return [Outbound(ctx.text("query.mine"), tuple(buttons), "choice")]


async def mine_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Show one of the citizen's cases, or go on to number and code."""
    if inbound.choice == "other":
        return Ok(next="number")
    own = {str(c.id): c for c in await _mine(ctx)}
    if inbound.choice and inbound.choice.startswith("case:") and inbound.choice[5:] in own:
        ctx.replies.append(await case_facts(ctx, own[inbound.choice[5:]]))
        return Ok(next=MENU)
    number = case_number(inbound.text) if not inbound.choice else None
    if number:
        for case in own.values():
            if case.number == number:
                ctx.replies.append(await case_facts(ctx, case))
                return Ok(next=MENU)
        ctx.slots["number"] = number
        return Ok(next="code")
    return Reask("choice.unknown")


async def number_prompt(ctx: Ctx) -> list[Outbound]:
    """Ask for the case number."""
    return [Outbound(ctx.text("query.number"))]


async def number_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Accept a case number (with dashes or as bare digits), or a number and its code in one message."""
    number = typed_case_number(inbound.text or "", ctx.services.hotline)
    if number is None:
        return Reask("query.number.invalid")
    code = _code_after(inbound.text or "", number)
    if code is not None:
        shown = await _show(ctx, number, code)
        if shown is not None:
            return shown
        ctx.say("query.not_found")
    return Ok(number)


def _code_after(text: str, number: str) -> str | None:
    """Return a tracking code typed after the case number in the same message, if any."""
    rest = clean(text)
    for form in (number, number.replace("-", "")):
        rest = rest.replace(form, " ")
    return tracking(rest.strip(" ，,：:;；"))


async def code_prompt(ctx: Ctx) -> list[Outbound]:
    """Ask for the tracking code."""
    return [Outbound(ctx.text("query.code"))]


def _locked(ctx: Ctx) -> bool:
    failures = ctx.slots.get("_code_fail") or {}
    since = failures.get("since")
    if since and ctx.now - dt.datetime.fromisoformat(since) > CODE_LOCK:
        ctx.slots.pop("_code_fail", None)
        return False
    return failures.get("count", 0) >= MAX_CODE_FAILURES


def _failed(ctx: Ctx) -> None:
    failures = ctx.slots.setdefault("_code_fail", {"count": 0, "since": ctx.now.isoformat()})
    failures["count"] += 1


async def code_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Show the case whose number and tracking code both match; a code fits one case only.

    A case number typed here replaces the one given before (so a mistyped number can be corrected).
    """
    number = typed_case_number(inbound.text or "", ctx.services.hotline)
    code = tracking(inbound.text or "")
    if number is not None:
        ctx.slots["number"] = number
        code = _code_after(inbound.text or "", number)
        if code is None:
            return Reask("query.number.changed", {"number": number})
    return await _show(ctx, ctx.slots.get("number", ""), code) or Reask("query.not_found")


async def _show(ctx: Ctx, number: str, code: str | None) -> Result | None:
    """Show the case whose number and code match (then back to the menu); None after counting a failure.

    Every look-up by code comes here, so five wrong codes lock them all (the number step's "number code" too).
    """
    if _locked(ctx):
        ctx.say("query.locked")
        return Ok(next=MENU)
    case = await Case.get_or_none(number=number, tracking_code=code) if code else None
    if case is None:
        _failed(ctx)
        if _locked(ctx):
            ctx.say("query.locked")
            return Ok(next=MENU)
        return None
    ctx.slots.pop("_code_fail", None)
    if case.status is CaseStatus.ARCHIVED:
        ctx.say("query.expired")
    else:
        ctx.replies.append(await case_facts(ctx, case))
    return Ok(code, next=MENU)


FLOW = Flow("query", (
    Step("mine", mine_prompt, mine_parse, next="number"),
    Step("number", number_prompt, number_parse, slot="number", next="code"),
    Step("code", code_prompt, code_parse, next=MENU),
))
