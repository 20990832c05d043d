"""Submit an appeal: describe → category → where → contact → similar case → summary → case number.

A question the knowledge base answers (typed at the menu, or as the description) first gets the
answer with its source (step ``answer``): "yes" records a consultation answered directly (直接答复),
"no" goes on to the category with the question kept as the description.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tortoise.transactions import in_transaction

from storage import batch
from storage.cases import NewCase
from storage.knowledge import Answer, KnowledgeError, local_day, record_direct_answer
from storage.labels import label
from storage.lifecycle import Actor, CaseStatus
from storage.models import Attachment, Case, CaseFollower, CaseKind, Channel, Citizen, Urgency

from ..dialog.flow import MENU, Ctx, Flow, Ok, Reask, Result, Step
from ..dialog.parsers import MAX_TEXT, clean, command_word, phone, words
from ..messages import Choice, Inbound, Outbound
from ..texts import CATEGORY_EN, category_label

MIN_DESCRIPTION = 5
CONFIRM_WORDS = ("confirm", "确认", "确认提交", "提交", "是", "yes", "submit", "ok")
SOLVED_WORDS = ("yes", "y", "是", "是的", "对", "解决了", "已解决", "好的", "谢谢")
UNSOLVED_WORDS = ("no", "n", "否", "不是", "没有", "没解决", "未解决", "没有解决", "不对")


async def take_description(ctx: Ctx, text: str, carry: bool = False) -> None:
    """Keep the description, flag an emergency (the engine has warned already) and ask intents for a category
    and unit (none for a self-harm threat: staff choose, and no bureau is named to a person in crisis)."""
    target = ctx.carry if carry else ctx.slots
    target["text"] = text
    found = ctx.services.advisor.urgency(text)
    emergency = found.level == "emergency" or ctx.slots.get("urgency") == Urgency.EMERGENCY.value
    target["urgency"] = Urgency.EMERGENCY.value if emergency else Urgency.NORMAL.value
    if "self_harm" in found.kinds:
        target["suggested"] = []
        return
    district = ctx.services.advisor.locate(text).district
    target["suggested"] = await ctx.services.advisor.suggest(text, district)


async def describe_prompt(ctx: Ctx) -> list[Outbound]:
    """Ask what the problem is."""
    return [Outbound(ctx.text("submit.describe", photos=ctx.services.max_photos), (), "text_or_photo")]


async def describe_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Accept a description (and photos)."""
    if inbound.attachments:
        count = keep_photos(ctx, inbound.attachments)
        if not clean(inbound.text):
            return Reask("submit.photo_saved", {"count": count})
    urgent = ctx.services.advisor.urgency(clean(inbound.text)).level == "emergency"
    result = words(inbound, MAX_TEXT, 1 if urgent else MIN_DESCRIPTION)  # "煤气泄漏" is enough: warn at once
    if isinstance(result, Ok):
        if await offer_answer(ctx, result.value):
            return Ok(result.value, next="answer")
        await take_description(ctx, result.value)
    return result


def keep_photos(ctx: Ctx, attachments: Sequence[int], carry: bool = False) -> int:
    """Keep sent photos for the submission, up to the limit (saying so beyond it); return how many it has."""
    target = ctx.carry if carry else ctx.slots
    photos: list[int] = list(target.get("photos", []))
    room = ctx.services.max_photos - len(photos)
    photos += [a for a in dict.fromkeys(attachments) if a not in photos][: max(room, 0)]
    target["photos"] = photos
    if len(attachments) > room:
        ctx.say("submit.photo_limit", photos=ctx.services.max_photos)
    return len(photos)


async def offer_answer(ctx: Ctx, text: str, carry: bool = False) -> bool:
    """Keep ``text`` as the question for the ``answer`` step if the knowledge base answers it (not emergencies)."""
    if ctx.services.advisor.urgency(text).level == "emergency" or await ctx.services.answer(text) is None:
        return False
    (ctx.carry if carry else ctx.slots)["question"] = text
    return True


def _offered(ctx: Ctx, answer: Answer) -> None:
    """Remember which article was offered (what a case created afterwards records)."""
    offered = {**answer.as_suggestion(), "category": answer.category}
    if ctx.slots.get("offered") != offered:
        ctx.slots["offered"] = offered


async def _to_staff(ctx: Ctx, key: str) -> None:
    """Go on to a submission with the question as its description (kind consultation)."""
    ctx.say(key)
    await take_description(ctx, ctx.slots["question"])
    ctx.slots["kind"] = CaseKind.CONSULTATION.value


def after_answer(ctx: Ctx) -> str:
    """Where the answer step goes when it has nothing to show: the category, or describe without a question."""
    return "category" if ctx.slots.get("text") else "describe"


async def answer_prompt(ctx: Ctx) -> list[Outbound] | None:
    """Show the knowledge base's answer with its source, and ask whether it answered the question.

    The article is looked up again each time it is shown, so an answer withdrawn or expired since
    (the next day, say) is never shown: the question then goes to staff as the description.
    """
    question = ctx.slots.get("question")
    if not question:
        return None
    answer = await ctx.services.answer(question)
    if answer is None:
        await _to_staff(ctx, "knowledge.stale")
        return None
    _offered(ctx, answer)
    text = ctx.text("knowledge.answer", question=answer.question, answer=answer.answer, source=answer.citation(),
                    unit=answer.unit_name)
    return [Outbound(text, (ctx.choice("yes", "knowledge.yes"), ctx.choice("no", "knowledge.no")), "choice")]


async def answer_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """'Yes': the answer solved it (recorded by the commit). 'No': on to the category, question kept."""
    word = inbound.choice or command_word(inbound)
    if word in SOLVED_WORDS:
        return Ok(True, next=MENU)
    if word in UNSOLVED_WORDS and ctx.slots.get("question"):
        await _to_staff(ctx, "knowledge.continue")
        return Ok(False, next="category")
    return Reask("knowledge.choose")


def claim_photos_sql(n: int) -> str:
    """Return the statement that gives ``n`` uploaded photos (ids after the case id) to a case, unless taken."""
    return (f"UPDATE {Attachment._meta.db_table} SET case_id = ? WHERE case_id IS NULL AND id IN "
            f"({', '.join('?' * n)})")


RECENT_SQL = f"SELECT COUNT(*) AS n FROM {Case._meta.db_table} WHERE citizen_id = ? AND created_at >= ?"


async def recent_cases(ctx: Ctx) -> int:
    """Count the citizen's cases of the last hour (the submission limit), in one plain read."""
    rows = await batch.read(RECENT_SQL, [ctx.citizen_id, ctx.now - dt.timedelta(hours=1)])
    return int(rows[0]["n"])


async def answer_commit(ctx: Ctx) -> str | None:
    """Record an accepted answer: a consultation case, resolved at once by the system as answered directly."""
    s = ctx.slots
    offered = s.get("offered")
    if not s.get("answered") or not offered:
        return None
    recent = await recent_cases(ctx)
    if recent >= ctx.services.submissions_per_hour:
        ctx.say("knowledge.thanks_plain")  # answered all the same; not counted, so questions cannot flood the cases
        return None
    knowledge = {**offered["knowledge"], "accepted": True}
    try:
        async with in_transaction():  # a savepoint: an article withdrawn meanwhile leaves no case behind
            case = await ctx.services.cases.submit(NewCase(
                text=s["question"], channel=Channel(ctx.channel), citizen_id=ctx.citizen_id,
                category=offered.get("category") or None, kind=CaseKind.CONSULTATION,
                suggestion={"knowledge": knowledge},
            ), Actor.citizen(ctx.citizen_id))
            if photos := [int(p) for p in s.get("photos", [])]:
                await batch.execute(claim_photos_sql(len(photos)), [case.id, *photos])
            await record_direct_answer(case.id, knowledge["article_id"], Actor.system(), ctx.services.cases)
    except KnowledgeError:
        s["answered"] = False
        await _to_staff(ctx, "knowledge.stale")
        return "category"
    ctx.say("knowledge.thanks", number=case.number)
    return None


async def category_prompt(ctx: Ctx) -> list[Outbound] | None:
    """Show the suggested category and unit for confirmation, or the category menu."""
    suggested: list[dict[str, Any]] = ctx.slots.get("suggested") or []
    if suggested and not ctx.slots.get("show_list"):
        top = suggested[0]
        key = "submit.category.suggest" if top.get("unit_name") else "submit.category.suggest_no_unit"
        buttons = [ctx.choice("yes", "submit.category.yes")]
        buttons += [Choice(f"cat:{s['category']}", category_label(s["category"], ctx.language)) for s in suggested[1:3]]
        buttons.append(ctx.choice("list", "submit.category.other"))
        unit = ctx.services.advisor.unit_label(top.get("unit_code"), top.get("unit_name") or "", ctx.language)
        return [Outbound(ctx.text(key, category=category_label(top["category"], ctx.language), unit=unit),
                         tuple(buttons), "choice")]
    categories = await ctx.services.advisor.categories()
    if not categories:
        return None
    buttons = [Choice(f"cat:{c}", category_label(c, ctx.language)) for c in categories]
    buttons.append(ctx.choice("unsure", "submit.category.unsure"))
    return [Outbound(ctx.text("submit.category.menu"), tuple(buttons), "choice")]


async def category_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Accept the suggestion, another category, or 'let staff decide'."""
    suggested: list[dict[str, Any]] = ctx.slots.get("suggested") or []
    value = inbound.choice or ""
    if value == "yes" and suggested:
        ctx.slots["unit_code"] = suggested[0].get("unit_code")
        return Ok(suggested[0]["category"])
    if value == "list":
        ctx.slots["show_list"] = True
        return Ok(None, next="category")
    if value == "unsure":
        return Ok(None)
    categories = await ctx.services.advisor.categories() + [s["category"] for s in suggested]
    name = value[4:] if value.startswith("cat:") else clean(inbound.text)
    name = next((zh for zh, en in CATEGORY_EN.items() if en.lower() == name.lower()), name)  # typed in English
    if name in categories:
        unit = next((s.get("unit_code") for s in suggested if s["category"] == name), None)
        ctx.slots["unit_code"] = unit
        return Ok(name)
    if not value and name in ("对", "是", "yes", "好", "对的") and suggested:
        ctx.slots["unit_code"] = suggested[0].get("unit_code")
        return Ok(suggested[0]["category"])
    return Reask("choice.unknown")


async def location_prompt(ctx: Ctx) -> list[Outbound]:
    """Ask where the problem is."""
    return [Outbound(ctx.text("submit.location"), (), "location")]


async def location_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Accept an address (resolved to district and street) or a map pin (its district found on the city map)."""
    if inbound.location is not None:
        lat, lon = inbound.location
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # NaN fails too
            return Reask("submit.location.too_short")
        district = ctx.services.advisor.places.district_at(lat, lon)  # None outside the city: staff decide
        ctx.slots.update(latitude=lat, longitude=lon, district=district, street=None)
        await follow_district(ctx, district)
        if district is None:  # said, not silently kept: the citizen may have sent where they are, not the problem
            ctx.say("submit.location.outside")
        return Ok(ctx.text("submit.location.pin", lat=lat, lon=lon))
    result = words(inbound, 200)
    if isinstance(result, Reask):
        return result
    place = ctx.services.advisor.locate(result.value)
    if len(result.value) < 4 and place.district is None:
        return Reask("submit.location.too_short")
    ctx.slots.update(district=place.district, street=place.street)
    await follow_district(ctx, place.district)
    return result


async def follow_district(ctx: Ctx, district: str | None) -> None:
    """Route the suggestion to the district's unit (属地) when the place is in another district than the description."""
    text = ctx.slots.get("text")
    if not district or not text or not ctx.slots.get("suggested"):
        return
    if ctx.services.advisor.locate(text).district == district:
        return  # the suggestion was made for this district already
    suggested = await ctx.services.advisor.route(ctx.slots["suggested"], district)  # same categories, new units
    ctx.slots["suggested"] = suggested
    if ctx.slots.get("category"):
        ctx.slots["unit_code"] = next((s.get("unit_code") for s in suggested if s["category"] == ctx.slots["category"]),
                                      ctx.slots.get("unit_code"))


async def contact_prompt(ctx: Ctx) -> list[Outbound]:
    """Offer phone, anonymous or confidential."""
    return [Outbound(ctx.text("submit.contact"), (
        ctx.choice("phone", "submit.contact.phone"), ctx.choice("anonymous", "submit.contact.anonymous"),
        ctx.choice("confidential", "submit.contact.confidential"),
    ), "choice")]


async def contact_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Take the contact mode, or a phone number typed straight away."""
    if inbound.choice == "phone":
        return Ok("named", next="phone")
    if inbound.choice == "anonymous":
        ctx.slots["phone"] = None
        return Ok("anonymous")
    if inbound.choice == "confidential":
        return Ok("confidential", next="phone")
    number = phone(inbound.text) if inbound.text and not inbound.choice else None
    if number:
        ctx.slots["phone"] = number
        return Ok("named")
    return Reask("choice.unknown")


async def phone_prompt(ctx: Ctx) -> list[Outbound]:
    """Ask for a phone number."""
    return [Outbound(ctx.text("submit.phone"), (), "phone")]


async def phone_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Accept a mobile or landline number."""
    number = phone(inbound.contact or inbound.text or "")
    return Ok(number) if number else Reask("submit.phone.invalid")


async def similar_prompt(ctx: Ctx) -> list[Outbound] | None:
    """Offer a similar open case to follow instead (并单); looked up once, then shown the same way."""
    if "similar" not in ctx.slots:
        case = await ctx.services.advisor.similar(ctx.slots["text"], ctx.slots.get("district"),
                                                  ctx.slots.get("street"), ctx.now)
        ctx.slots["similar"] = None if case is None else {  # never its text: another citizen's words
            "id": case.id, "number": case.number, "status": case.status.value, "category": case.category,
            "place": " ".join(p for p in (case.district, case.street) if p), "day": _day(case.created_at),
        }
    found = ctx.slots["similar"]
    if found is None:
        return None
    status = label(CaseStatus(found["status"]), ctx.language)
    category = category_label(found["category"], ctx.language) if found.get("category") else None
    what = "，".join(p for p in (category, found.get("place")) if p) or ctx.text("submit.similar.same")
    return [Outbound(ctx.text("submit.similar", number=found["number"], status=status, what=what,
                              day=found.get("day", "")), (
        ctx.choice("follow", "submit.similar.follow"), ctx.choice("new", "submit.similar.new"),
    ), "choice")]


def _day(created: dt.datetime | str) -> str:
    """Return the local date a case was submitted on (as the database gives it: a datetime or ISO text)."""
    when = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(str(created))
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return f"{local_day(when):%Y-%m-%d}"


async def similar_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Follow the similar case (no new case) or go on."""
    found = ctx.slots.get("similar")
    if inbound.choice == "follow" and found:
        if ctx.citizen_id:  # told its outcome, and listed among this citizen's cases
            await CaseFollower.get_or_create(case_id=found["id"], citizen_id=ctx.citizen_id,
                                             defaults={"channel": Channel(ctx.channel)})
        ctx.say("submit.similar.followed", number=found["number"],
                status=label(CaseStatus(found["status"]), ctx.language))
        return Ok(True, next=MENU)
    if inbound.choice == "new":
        return Ok(False)
    return Reask("choice.unknown")


def _contact_text(ctx: Ctx) -> str:
    mode = ctx.slots.get("contact")
    if mode == "anonymous":
        return ctx.text("submit.contact.summary.anonymous")
    key = "submit.contact.summary.confidential" if mode == "confidential" else "submit.contact.summary.phone"
    return ctx.text(key, phone=ctx.slots.get("phone") or "")


async def summary_prompt(ctx: Ctx) -> list[Outbound]:
    """Show everything once more and ask for confirmation."""
    s = ctx.slots
    place = "".join(f" ({p})" for p in [" ".join(x for x in (s.get("district"), s.get("street")) if x)] if p)
    category = category_label(s["category"], ctx.language) if s.get("category") else ctx.text("submit.unsure_category")
    text = ctx.text("submit.summary", text=s["text"], category=category,
                    address=s.get("address", ""), place=place, contact=_contact_text(ctx),
                    photos=len(s.get("photos", [])))
    return [Outbound(text, (ctx.choice("confirm", "submit.confirm"), ctx.choice("restart", "submit.restart"),
                            ctx.choice("cmd:cancel", "cancel.label")), "choice")]


async def summary_parse(ctx: Ctx, inbound: Inbound) -> Result:
    """Confirm, or start again."""
    word = inbound.choice or clean(inbound.text).lower()
    if word in CONFIRM_WORDS:
        return Ok(True)
    if word in ("restart", "重新填写"):
        for name in [k for k in ctx.slots if not k.startswith("_")]:
            del ctx.slots[name]
        return Ok(False, next="describe")
    return Reask("choice.unknown")


async def submit_commit(ctx: Ctx) -> str | None:
    """Create the case with the session save (queued on ``ctx.writes``), unless the citizen submits too often."""
    s, writes = ctx.slots, ctx.writes
    assert writes is not None, "a queued step"
    if not s.get("confirmed"):
        return None
    recent = await recent_cases(ctx)
    if recent >= ctx.services.submissions_per_hour:
        ctx.say("submit.throttled", count=recent)
        return "summary"
    anonymous = s.get("contact") == "anonymous"
    if not anonymous and s.get("phone"):
        writes.execute(f"UPDATE {Citizen._meta.db_table} SET phone = ? WHERE id = ?", [s["phone"], ctx.citizen_id])
    suggested = s.get("suggested") or []
    suggestion: dict[str, Any] = {"category": suggested[0]["category"], "unit": suggested[0].get("unit_code"),
                                  "ranked": suggested} if suggested else {}
    if s.get("offered"):  # an answer was offered and declined: a gap in the knowledge base
        suggestion["knowledge"] = s["offered"]["knowledge"]
    case = await ctx.services.cases.submit(NewCase(
        text=s["text"], channel=Channel(ctx.channel), citizen_id=ctx.citizen_id, category=s.get("category"),
        kind=CaseKind(s.get("kind") or CaseKind.COMPLAINT.value),
        urgency=Urgency(s.get("urgency", "normal")), address=s.get("address", ""), district=s.get("district"),
        street=s.get("street"), latitude=s.get("latitude"), longitude=s.get("longitude"), anonymous=anonymous,
        confidential=s.get("contact") == "confidential", suggestion=suggestion,
    ), Actor.citizen(ctx.citizen_id), writes)
    if photos := [int(p) for p in s.get("photos", [])]:  # the case's id exists once its insert has run
        writes.execute(claim_photos_sql(len(photos)), lambda: [case.id, *photos])
    hours = max(1, round(((case.accept_due_at or ctx.now) - ctx.now).total_seconds() / 3600))
    ctx.say("submit.done", number=case.number, code=case.tracking_code, hours=hours)
    writes.after(lambda: ctx.services.advisor.remember(case))
    return None


def photos_later(ctx: Ctx, attachments: Sequence[int]) -> None:
    """Keep photos sent after the description (an album's later pictures), and say how many there are."""
    before = len(ctx.slots.get("photos", []))
    count = keep_photos(ctx, attachments)  # beyond the limit it says so itself
    if count > before:
        ctx.say("submit.photo_added", count=count)


FLOW = Flow("submit", (
    Step("describe", describe_prompt, describe_parse, slot="text", next="category", photos=True),
    Step("answer", answer_prompt, answer_parse, slot="answered", next=after_answer, commit=answer_commit),
    Step("category", category_prompt, category_parse, slot="category", next="location"),
    Step("location", location_prompt, location_parse, slot="address", next="contact"),
    Step("contact", contact_prompt, contact_parse, slot="contact", next="similar"),
    Step("phone", phone_prompt, phone_parse, slot="phone", next="similar"),
    Step("similar", similar_prompt, similar_parse, slot="followed", next="summary"),
    Step("summary", summary_prompt, summary_parse, slot="confirmed", next=MENU, commit=submit_commit, queued=True),
), keep_photos=photos_later, urgency_slot="urgency")
