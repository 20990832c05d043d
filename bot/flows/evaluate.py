"""Evaluate: the five-level rating and an optional comment; 不满意 reopens the case."""

from __future__ import annotations

from storage.deadlines import local
from storage.errors import CaseError
from storage.labels import label
from storage.lifecycle import Action, Actor, CaseStatus, Rating
from storage.models import Case

from ..dialog.flow import MENU, Ctx, Flow, Ok, Reask, Result, Step
from ..dialog.parsers import clean, words
from ..messages import Choice, Inbound, Outbound

RATINGS = tuple(Rating)  # 1 = very satisfied … 5 = very dissatisfied
REOPENING = frozenset({Rating.DISSATISFIED, Rating.VERY_DISSATISFIED})


async def _ratable(ctx: Ctx) -> list[Case]:
    return await Case.filter(citizen_id=ctx.citizen_id, status=CaseStatus.RESOLVED).order_by("-id").limit(5)


async def pick_prompt(ctx: Ctx) -> list[Outbound] | None:
    """List the citizen's resolved cases; skip when one was chosen from a notification."""
    cases = await _ratable(ctx)
    chosen = str(ctx.slots.get("case_id") or "")
    if chosen and any(str(c.id) == chosen for c in cases):
        ctx.slots["case_id"] = int(chosen)
        return None
    ctx.slots.pop("case_id", None)
    if not cases:
        ctx.say("evaluate.none")
        return None
    buttons = tuple(Choice(f"case:{c.id}", f"{c.number} {c.title}") for c in cases)
    return [Outbound(ctx.text("evaluate.pick"), buttons, "choice")]


async def pick_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Accept one of the listed cases."""
    cases = {f"case:{c.id}": c.id for c in await _ratable(ctx)}
    if inbound.choice in cases:
        return Ok(cases[inbound.choice])
    return Reask("choice.unknown")


async def rating_prompt(ctx: Ctx) -> list[Outbound]:
    """Show the reply and the five levels."""
    case = await Case.get(id=ctx.slots["case_id"])
    buttons = tuple(Choice(f"rating:{r.value}", f"{i} {label(r, ctx.language)}") for i, r in enumerate(RATINGS, 1))
    return [Outbound(ctx.text("evaluate.rating", number=case.number, reply=case.reply or "-"), buttons, "choice")]


async def rating_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Accept a level by button, by number 1-5 or by its words."""
    value = inbound.choice or ""
    if value.startswith("rating:") and value[7:] in Rating._value2member_map_:
        return Ok(value[7:])
    text = clean(inbound.text)
    if text.isdigit() and 1 <= int(text) <= len(RATINGS):
        return Ok(RATINGS[int(text) - 1].value)
    for r in RATINGS:
        if text in (label(r, "zh-CN"), label(r, "en").lower(), label(r, "en")):
            return Ok(r.value)
    return Reask("evaluate.rating.invalid")


async def comment_prompt(ctx: Ctx) -> list[Outbound]:
    """Ask for a comment (or what is unsolved, when dissatisfied)."""
    key = "evaluate.reason" if Rating(ctx.slots["rating"]) in REOPENING else "evaluate.comment"
    return [Outbound(ctx.text(key), (ctx.choice("skip", "evaluate.skip"),), "text")]


async def comment_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Accept a comment or a skip."""
    if inbound.choice == "skip":
        return Ok("")
    return words(inbound, 1000)


async def evaluate_commit(ctx: Ctx) -> str | None:
    """Record the rating through CaseService; a dissatisfied rating reopens the case."""
    rating = Rating(ctx.slots["rating"])
    comment = ctx.slots.get("comment") or ""
    actor = Actor.citizen(ctx.citizen_id)
    cases = ctx.services.cases
    try:
        applied = await cases.apply(ctx.slots["case_id"], Action.EVALUATE, actor, {"rating": rating.value,
                                                                                    "comment": comment})
        if rating in REOPENING:
            reason = comment or ctx.text("evaluate.default_reason")
            applied = await cases.apply(applied.case.id, Action.REOPEN, actor, {"reason": reason})
            ctx.say("evaluate.reopened", number=applied.case.number, due=local(applied.case.due_at))
        else:
            ctx.say("evaluate.done")
    except CaseError as exc:
        ctx.say("evaluate.refused", reason=exc.message(ctx.language))
    return MENU


FLOW = Flow("evaluate", (
    Step("pick", pick_prompt, pick_parse, slot="case_id",
         next=lambda ctx: "rating" if ctx.slots.get("case_id") else MENU),
    Step("rating", rating_prompt, rating_parse, slot="rating", next="comment"),
    Step("comment", comment_prompt, comment_parse, slot="comment", next=MENU, commit=evaluate_commit),
))
