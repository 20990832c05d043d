"""Knowledge-base pages: unit staff write their own unit's articles, the unit head reviews them.

Every change goes through ``KnowledgeService`` (which owns the rules); a refusal is shown as a
polite page with ``KnowledgeError.status_code`` as the HTTP status. Platform staff read every
article; unit staff see only their own unit's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from storage.accounts import staff_names
from storage.knowledge import EDITORS, ArticleDraft, KnowledgeError, history, local_day, may_review
from storage.lifecycle import Actor, Role
from storage.models import KnowledgeArticle, KnowledgeRevision, KnowledgeStatus, RevisionStatus, Unit

from ..access import sees_all
from ..auth import current_actor
from ..i18n import lang, tr
from ..ids import db_id
from ..keys import KNOWLEDGE_SERVICE
from .common import error_page, redirect, render

ARTICLE_STATUS = {KnowledgeStatus.DRAFT: ("未发布", "Not published"),
                  KnowledgeStatus.PUBLISHED: ("已发布", "Published"),
                  KnowledgeStatus.WITHDRAWN: ("已撤回", "Withdrawn")}
REVISION_STATUS = {RevisionStatus.DRAFT: ("草稿", "Draft"), RevisionStatus.REVIEW: ("待审核", "Under review"),
                   RevisionStatus.PUBLISHED: ("已发布", "Published"),
                   RevisionStatus.SUPERSEDED: ("已替代", "Superseded")}
DONE = {"created": ("已创建草稿", "Draft created"), "saved": ("草稿已保存", "Draft saved"),
        "submitted": ("已提交审核", "Sent for review"), "approved": ("已审核发布", "Approved and published"),
        "sent_back": ("已退回修改", "Sent back"), "withdrawn": ("已撤回，不再用于答复", "Withdrawn: no longer served")}


def _readable_units(actor: Actor) -> frozenset[int] | None:
    """Return the units whose articles the actor reads (None: all of them); empty: none."""
    if sees_all(actor):
        return None
    return actor.unit_ids if actor.roles & EDITORS else frozenset()


def _is_editor(actor: Actor, unit_id: int) -> bool:
    return bool(actor.roles & EDITORS) and unit_id in actor.unit_ids


def _is_head(actor: Actor, unit_id: int) -> bool:
    return Role.UNIT_HEAD in actor.roles and unit_id in actor.unit_ids


def _is_reviewer(actor: Actor, unit_id: int) -> bool:
    return may_review(actor, unit_id)


def _label(table: dict[Any, tuple[str, str]], key: Any, request: web.Request) -> str:
    zh, en = table.get(key, (str(key), str(key)))
    return tr(request, zh, en)


def _served(article: KnowledgeArticle, day: dt.date) -> bool:
    return (article.status is KnowledgeStatus.PUBLISHED and (article.valid_from is None or article.valid_from <= day)
            and (article.valid_to is None or article.valid_to >= day))


def _day(form: MultiDictProxy[Any], name: str) -> dt.date | None:
    raw = str(form.get(name, "")).strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise KnowledgeError("invalid", field=name) from None


def _draft(form: MultiDictProxy[Any]) -> ArticleDraft:
    """Read the article form: one question variant a line, the answer, category, source and dates."""
    questions = [line.strip() for line in str(form.get("questions", "")).splitlines()]
    return ArticleDraft(questions, str(form.get("answer", "")), str(form.get("category", "")),
                        str(form.get("source", "")), _day(form, "valid_from"), _day(form, "valid_to"))


async def _refused(request: web.Request, exc: KnowledgeError) -> web.Response:
    return await error_page(request, exc.status_code, exc.message(lang(request)))


async def _unit_names(request: web.Request) -> dict[int, str]:
    en = lang(request) == "en"
    rows = await Unit.all().values_list("id", "name_zh", "name_en")
    return {i: (name_en or zh) if en else zh for i, zh, name_en in rows}


async def list_page(request: web.Request) -> web.Response:
    """List the articles the signed-in staff member may read, with their latest revision's state."""
    _, actor = current_actor(request)
    units = _readable_units(actor)
    if units is not None and not units:
        return await error_page(request, 403, KnowledgeError("not_owner").message(lang(request)))
    query = KnowledgeArticle.all() if units is None else KnowledgeArticle.filter(unit_id__in=sorted(units))
    articles = await query.order_by("unit_id", "id")
    latest: dict[int, KnowledgeRevision] = {}
    for rev in await KnowledgeRevision.filter(article_id__in=[a.id for a in articles]).order_by("number"):
        latest[rev.article_id] = rev  # type: ignore[attr-defined]
    day = local_day(request.app[KNOWLEDGE_SERVICE].clock())
    names = await _unit_names(request)
    rows = []
    for a in articles:
        rev = latest.get(a.id)
        title = (a.questions or (rev.questions if rev else []) or ["—"])[0]
        rows.append({"id": a.id, "title": title, "unit": names.get(a.unit_id, ""),  # type: ignore[attr-defined]
                     "category": a.category or (rev.category if rev else ""), "version": a.version,
                     "status": _label(ARTICLE_STATUS, a.status, request), "served": _served(a, day),
                     "latest": _label(REVISION_STATUS, rev.status, request) if rev else "",
                     "latest_number": rev.number if rev else 0, "valid_to": a.valid_to})
    can_create = bool(actor.roles & EDITORS) and bool(actor.unit_ids)
    return await render(request, "knowledge_list.html", {"rows": rows, "can_create": can_create,
                                                         "all_units": units is None})


async def new_form(request: web.Request) -> web.Response:
    """Show the form for a new article of the staff member's unit."""
    _, actor = current_actor(request)
    if not (actor.roles & EDITORS and actor.unit_ids):
        return await error_page(request, 403, KnowledgeError("not_owner").message(lang(request)))
    return await render(request, "knowledge_new.html", {"v": {}})


async def create(request: web.Request) -> web.Response:
    """Create the article with its first draft revision."""
    _, actor = current_actor(request)
    form = await request.post()
    if not actor.unit_ids:
        return await _refused(request, KnowledgeError("not_owner", 403))
    try:
        revision = await request.app[KNOWLEDGE_SERVICE].create(min(actor.unit_ids), _draft(form), actor)
    except KnowledgeError as exc:
        if exc.status_code != 400:
            return await _refused(request, exc)
        return await render(request, "knowledge_new.html", {"v": form, "error": exc.message(lang(request))},
                            status=400)
    return redirect(f"/knowledge/{revision.article_id}?done=created")  # type: ignore[attr-defined]


async def _readable(request: web.Request) -> tuple[Actor, KnowledgeArticle] | web.Response:
    _, actor = current_actor(request)
    article_id = db_id(request.match_info["article_id"])
    article = await KnowledgeArticle.get_or_none(id=article_id) if article_id else None
    if article is None:
        return await _refused(request, KnowledgeError("not_found", 404))
    units = _readable_units(actor)
    if units is not None and article.unit_id not in units:  # type: ignore[attr-defined]
        return await _refused(request, KnowledgeError("not_owner", 403))
    return actor, article


async def article_page(request: web.Request, values: dict[str, str] | None = None, error: str = "",
                       status_code: int = 200) -> web.Response:
    """Show an article: what is served, the latest revision with what the viewer may do, the history.

    ``values`` and ``error``: an edit that was refused, shown again in the form with why.
    """
    if isinstance(found := await _readable(request), web.Response):
        return found
    staff, _ = current_actor(request)
    actor, article = found
    unit_id: int = article.unit_id  # type: ignore[attr-defined]
    revisions = await history(article.id)
    latest = revisions[-1] if revisions else None
    people = await staff_names(i for r in revisions for i in (r.author_id, r.reviewer_id))  # type: ignore[attr-defined]
    editor, head, reviewer = _is_editor(actor, unit_id), _is_head(actor, unit_id), _is_reviewer(actor, unit_id)
    status = latest.status if latest else None
    done = DONE.get(request.query.get("done", ""))
    return await render(request, "knowledge_article.html", {
        "a": article, "unit": (await _unit_names(request)).get(unit_id, ""),
        "status": _label(ARTICLE_STATUS, article.status, request),
        "served": _served(article, local_day(request.app[KNOWLEDGE_SERVICE].clock())),
        "latest": latest, "latest_status": _label(REVISION_STATUS, status, request) if latest else "",
        "history": [{"r": r, "status": _label(REVISION_STATUS, r.status, request),
                     "author": people.get(r.author_id, ""), "reviewer": people.get(r.reviewer_id, "")}  # type: ignore[attr-defined]
                    for r in reversed(revisions)],
        "can_edit": editor and status is not RevisionStatus.REVIEW,
        "can_submit": editor and status is RevisionStatus.DRAFT,
        "can_review": reviewer and status is RevisionStatus.REVIEW and latest is not None
        and latest.author_id != staff.id,  # type: ignore[attr-defined]
        "own_review": reviewer and status is RevisionStatus.REVIEW and latest is not None
        and latest.author_id == staff.id,  # type: ignore[attr-defined]
        "can_withdraw": head and article.status is KnowledgeStatus.PUBLISHED,
        "done": tr(request, *done) if done else "",
        "v": values if values is not None else _values(latest), "error": error,
    }, status=status_code)


def _values(revision: KnowledgeRevision | None) -> dict[str, str]:
    """Return a revision's fields as the edit form shows them."""
    if revision is None:
        return {}
    return {"questions": "\n".join(revision.questions), "answer": revision.answer, "category": revision.category,
            "source": revision.source, "valid_from": revision.valid_from.isoformat() if revision.valid_from else "",
            "valid_to": revision.valid_to.isoformat() if revision.valid_to else ""}


Step = Callable[[web.Request, int, Actor, MultiDictProxy[Any]], Awaitable[Any]]


def _step(run: Step, done: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap one KnowledgeService call as a POST handler: redirect on success, a polite page on refusal."""
    async def handler(request: web.Request) -> web.Response:
        _, actor = current_actor(request)
        form = await request.post()
        article_id = db_id(request.match_info["article_id"])
        try:
            if article_id is None:
                raise KnowledgeError("not_found", 404)
            await run(request, article_id, actor, form)
        except KnowledgeError as exc:
            if exc.status_code == 400 and done == "saved":  # a refused edit: the form again, as typed, with why
                values = {k: str(form.get(k, "")) for k in ("questions", "answer", "category", "source",
                                                            "valid_from", "valid_to")}
                return await article_page(request, values, exc.message(lang(request)), 400)
            return await _refused(request, exc)
        return redirect(f"/knowledge/{article_id}?done={done}")

    handler.__doc__ = f"POST handler: {done}."
    return handler


def _service(request: web.Request) -> Any:
    return request.app[KNOWLEDGE_SERVICE]


edit = _step(lambda rq, i, a, f: _service(rq).edit(i, _draft(f), a), "saved")
submit = _step(lambda rq, i, a, f: _service(rq).submit_for_review(i, a), "submitted")
approve = _step(lambda rq, i, a, f: _service(rq).approve(i, a, str(f.get("note", ""))[:1000]), "approved")
send_back = _step(lambda rq, i, a, f: _service(rq).send_back(i, a, str(f.get("note", ""))[:1000]), "sent_back")
withdraw = _step(lambda rq, i, a, f: _service(rq).withdraw(i, a), "withdrawn")


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the knowledge-base pages."""
    router.add_get("/knowledge", list_page, name="knowledge_list")
    router.add_get("/knowledge/new", new_form, name="knowledge_new")
    router.add_post("/knowledge/new", create, name="knowledge_create")
    router.add_get("/knowledge/{article_id}", article_page, name="knowledge_article")
    router.add_post("/knowledge/{article_id}/edit", edit, name="knowledge_edit")
    router.add_post("/knowledge/{article_id}/submit", submit, name="knowledge_submit")
    router.add_post("/knowledge/{article_id}/approve", approve, name="knowledge_approve")
    router.add_post("/knowledge/{article_id}/send-back", send_back, name="knowledge_send_back")
    router.add_post("/knowledge/{article_id}/withdraw", withdraw, name="knowledge_withdraw")
