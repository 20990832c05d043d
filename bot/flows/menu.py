"""The main menu: buttons, free text routed by intent, and the offer to resume an expired dialog."""

from __future__ import annotations

import re

from intents.chat_intent import classify

from ..dialog.flow import MENU, Ctx, Flow, Ok, Reask, Result, Step
from ..dialog.parsers import case_number, clean, has_words
from ..messages import Inbound, Outbound
from ..texts import TEXTS
from . import submit

DESCRIPTION_MIN = 8  # free text this long that reads as a complaint is taken as the description
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def _size(text: str) -> int:
    """Return how much a message says: its characters, an English word counting as one ("I want to complain": 4)."""
    return len("".join(_LATIN_WORD.sub("", text).split())) + len(_LATIN_WORD.findall(text))


async def start_prompt(ctx: Ctx) -> list[Outbound]:
    """Offer the main menu."""
    return [Outbound(ctx.text("menu.prompt", hotline=ctx.services.hotline), (
        ctx.choice("submit", "menu.submit"), ctx.choice("query", "menu.query"),
        ctx.choice("evaluate", "menu.evaluate"), ctx.choice("help", "menu.help"),
    ), "choice")]


async def start_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Route a button, or free text by its intent."""
    if inbound.choice in ("submit", "query", "evaluate"):
        return Ok(next=f"{inbound.choice}:")
    if inbound.choice == "help":
        ctx.say("help.text")
        return Ok(next=MENU)
    if inbound.choice:
        return Reask("choice.unknown")
    if inbound.attachments:  # a photo first: it starts a submission, kept for it
        ctx.say("submit.photo_saved", count=submit.keep_photos(ctx, inbound.attachments, carry=True))
        if clean(inbound.text) and len(clean(inbound.text)) >= submit.MIN_DESCRIPTION:  # with a caption: its words
            await submit.take_description(ctx, clean(inbound.text), carry=True)
            return Ok(next="submit:category")
        return Ok(next="submit:describe")
    text = clean(inbound.text)
    if not text or not has_words(text):
        return Reask("menu.unknown")
    emergency = ctx.services.advisor.urgency(text).level == "emergency"
    if emergency and len(text) <= submit.MAX_TEXT:  # warned once, and straight into a submission with it
        await submit.take_description(ctx, text, carry=True)
        return Ok(next="submit:category")
    intent = classify(text[:500]).intent
    if intent == "query" or (intent == "unknown" and case_number(text)):
        number = case_number(text)
        if number:
            ctx.carry["number"] = number
            return Ok(next="query:code")
        return Ok(next="query:")
    if intent == "evaluate":
        return Ok(next="evaluate:")
    if not emergency and _may_ask(intent, text) and await submit.offer_answer(ctx, text, carry=True):
        return Ok(next="submit:answer")  # the knowledge base answers it: show that first
    if intent == "help":
        ctx.say("help.text")
        return Ok(next=MENU)
    if intent == "greeting":
        return Ok(next=MENU)
    if intent == "submit" and _size(text) >= DESCRIPTION_MIN and len(text) <= submit.MAX_TEXT:
        await submit.take_description(ctx, text, carry=True)
        return Ok(next="submit:category")
    if intent == "submit":
        return Ok(next="submit:")
    return Reask("menu.unknown")


def _may_ask(intent: str, text: str) -> bool:
    """Tell whether free text may be a question for the knowledge base.

    Text no intent claims is asked about; so is a longer message with help or submit words
    (我想咨询… reads as a submission). Short intent words (我要投诉, 怎么用) keep their meaning.
    """
    if len(text) > submit.MAX_TEXT:
        return False
    return intent == "unknown" or (intent in ("help", "submit") and _size(text) >= DESCRIPTION_MIN)


async def resume_prompt(ctx: Ctx) -> list[Outbound] | None:
    """Offer to continue the dialog that expired while idle."""
    resume = ctx.slots.get("_resume")
    if not resume:
        return None
    key = f"flow.{resume['flow']}"
    what = ctx.text(key) if key in TEXTS else resume["flow"]
    return [Outbound(ctx.text("menu.resume", what=what), (
        ctx.choice("resume", "menu.resume.yes"), ctx.choice("restart", "menu.resume.no"),
    ), "choice")]


async def resume_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Continue where the citizen left off, or start over."""
    resume = ctx.slots.pop("_resume", None)
    word = inbound.choice or clean(inbound.text)
    if resume and word in ("resume", "接着办", "继续", "continue", "是", "yes"):
        ctx.carry.update({k: v for k, v in ctx.slots.items() if not k.startswith("_")})
        if resume.get("text"):  # typed as the session expired: taken as the answer now, not asked for again
            ctx.carry["_replay"] = resume["text"]
        return Ok(next=f"{resume['flow']}:{resume['step']}")
    if resume and word not in ("restart", "重新开始", "start over", "否", "no"):
        ctx.slots["_resume"] = resume
        return Reask("choice.unknown")
    for name in [k for k in ctx.slots if not k.startswith("_")]:
        del ctx.slots[name]  # starting over forgets the unfinished answers
    return Ok(next=MENU)


FLOW = Flow("menu", (
    Step("start", start_prompt, start_parse, next=MENU),
    Step("resume", resume_prompt, resume_parse, next=MENU),
))
