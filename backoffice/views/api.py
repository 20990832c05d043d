"""The JSON API: the same operations as the pages, described at /api/openapi.json."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from aiohttp import web

from storage.effects import catalogue_category
from storage.errors import CaseError, MissingFields
from storage.labels import STATUS
from storage.lifecycle import Action, CaseStatus, Role

from .. import queues
from ..auth import current_actor
from ..forms import BadPayload, payload_from_json
from ..i18n import lang
from ..ids import db_id
from ..keys import CASES, SESSION, SUGGESTER
from ..masking import text_view
from ..operations import act, case_detail, record_call
from ..sessions import now
from .intake import IntakeError, parse_call
from .openapi import document


def _error(status: int, key: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": key, "message": message, **extra}, status=status)


def _case_error(exc: CaseError, language: str) -> web.Response:
    extra = {"fields": exc.fields} if isinstance(exc, MissingFields) else {}
    return _error(exc.status_code, exc.key, exc.message(language), **extra)


def _case_id(request: web.Request) -> int | None:
    raw = request.match_info["case_id"]
    return db_id(raw)


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise BadPayload("send application/json")
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise BadPayload("the body is not valid JSON") from None


async def me(request: web.Request) -> web.Response:
    """Return the signed-in staff member."""
    staff, actor = current_actor(request)
    return web.json_response({"id": staff.id, "username": staff.username, "display_name": staff.display_name,
                              "roles": sorted(r.value for r in actor.roles), "unit_ids": sorted(actor.unit_ids),
                              "language": lang(request)})


async def queue_counts(request: web.Request) -> web.Response:
    """Count the caller's queues, each up to queues.API_COUNT_CAP (that figure means "at least")."""
    _, actor = current_actor(request)
    return web.json_response(await queues.counts(actor, now(), cap=queues.API_COUNT_CAP))


async def queue_cases(request: web.Request) -> web.Response:
    """List one queue's cases (filters and keyset cursor as on the pages)."""
    _, actor = current_actor(request)
    queue = queues.BY_KEY.get(request.match_info["queue"])
    if queue is None or queue not in queues.queues_for(actor):
        return _error(404, "queue", "no such queue")
    try:
        filters = queues.parse_filters(request.query)
    except queues.BadFilter as exc:
        return _error(400, "filter", f"invalid filter: {exc}")
    page = await queues.page(actor, queue, filters, now())
    i = 1 if lang(request) == "en" else 0
    items = [{
        "id": c.id, "number": c.number, "title": text_view(c.title, masked=True), "status": c.status.value,
        "status_label": STATUS[CaseStatus(c.status)][i], "category": c.category, "district": c.district,
        "channel": c.channel.value, "urgency": c.urgency.value, "version": c.version,
        "due_at": c.due_at.isoformat() if c.due_at else None, "created_at": c.created_at.isoformat(),
    } for c in page.cases]
    return web.json_response({"items": items, "next_cursor": page.next_cursor})


async def case_get(request: web.Request) -> web.Response:
    """Return one case as the case page shows it."""
    _, actor = current_actor(request)
    case_id = _case_id(request)
    if case_id is None:
        return _error(404, "not_found", "no such case")
    try:
        detail = await case_detail(actor, case_id, request.get(SESSION), lang(request), now(),
                                   request.app[SUGGESTER])
    except CaseError as exc:
        return _case_error(exc, lang(request))
    return web.json_response(detail.as_json())


async def case_act(request: web.Request) -> web.Response:
    """Apply an action: {"expected_version": int, "payload": {...}} → the case after the change."""
    _, actor = current_actor(request)
    case_id = _case_id(request)
    try:
        action = Action(request.match_info["action"])
    except ValueError:
        return _error(400, "action", "no such action")
    if case_id is None:
        return _error(404, "not_found", "no such case")
    try:
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) - {"expected_version", "payload"}:
            raise BadPayload("the body must be an object with expected_version and payload")
        version = body.get("expected_version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
            raise BadPayload("expected_version must be a whole number")
        payload = payload_from_json(action, body.get("payload", {}))
    except BadPayload as exc:
        return _error(400, "payload", str(exc))
    language = lang(request)
    try:
        applied = await act(request.app[CASES], actor, request.get(SESSION), case_id, action, payload, version)
    except CaseError as exc:
        return _case_error(exc, language)
    detail = await case_detail(actor, applied.case.id, request.get(SESSION), language, now())
    return web.json_response(detail.as_json())


async def intake(request: web.Request) -> web.Response:
    """Record a phone call as a case (operators only)."""
    _, actor = current_actor(request)
    if Role.OPERATOR not in actor.roles:
        return _error(403, "role", "only operators record calls")
    try:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise BadPayload("the body must be an object")
        new, name, phone = parse_call(body)
    except (BadPayload, IntakeError) as exc:
        return _error(400, "payload", f"invalid field: {exc}")
    try:
        await catalogue_category(new.category or "")  # a category given must be the dispatch catalogue's
    except CaseError as exc:
        return _case_error(exc, lang(request))
    proposal = await request.app[SUGGESTER].propose(new.text, new.district)
    suggestion = proposal.as_suggestion()
    new = replace(new, suggestion=suggestion, category=new.category or suggestion.get("category"),
                  district=new.district or proposal.district)
    try:
        case = await record_call(request.app[CASES], actor, new, name, phone)
    except CaseError as exc:
        return _case_error(exc, lang(request))
    return web.json_response({"id": case.id, "number": case.number, "status": case.status.value,
                              "version": case.version, "suggestion": suggestion}, status=201)


async def openapi(request: web.Request) -> web.Response:
    """Serve the OpenAPI 3.1 document of this API."""
    return web.json_response(document())


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the API routes."""
    router.add_get("/api/openapi.json", openapi, name="api_openapi")
    router.add_get("/api/me", me, name="api_me")
    router.add_get("/api/queues", queue_counts, name="api_queue_counts")
    router.add_get("/api/queues/{queue}/cases", queue_cases, name="api_queue_cases")
    router.add_get("/api/cases/{case_id}", case_get, name="api_case_get")
    router.add_post("/api/cases/{case_id}/actions/{action}", case_act, name="api_case_act")
    router.add_post("/api/intake", intake, name="api_intake")
