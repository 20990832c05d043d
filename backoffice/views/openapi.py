"""The OpenAPI 3.1 document of the JSON API, built from the transition table so it never drifts."""

from __future__ import annotations

from typing import Any

from storage.lifecycle import TRANSITIONS, Action, CaseStatus, Rating, RejectClass, SuperviseLevel
from storage.models import CaseKind, Channel, Urgency

from ..forms import BOOLS
from ..queues import API_COUNT_CAP, QUEUES, SORTS

ERROR = {"$ref": "#/components/schemas/Error"}


def _field_schema(name: str) -> dict[str, Any]:
    if name in BOOLS:
        return {"type": "boolean"}
    if name == "co_units":
        return {"type": "array", "items": {"type": ["string", "integer"]}}
    if name in ("days", "lead_unit", "co_unit"):
        return {"type": ["integer", "string"]}
    enums = {"rating": Rating, "reject_class": RejectClass, "level": SuperviseLevel}
    if name in enums:
        return {"type": "string", "enum": [e.value for e in enums[name]]}
    return {"type": "string"}


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    texts = {400: "Invalid input", 401: "Not signed in", 403: "CSRF token missing or role not allowed",
             404: "No such case (or not visible to you)", 409: "Not allowed now, or a version conflict"}
    for code in codes:
        out[str(code)] = {"description": texts[code], "content": {"application/json": {"schema": ERROR}}}
    return out


def document() -> dict[str, Any]:
    """Return the OpenAPI document."""
    actions: dict[str, Any] = {}
    for action, t in TRANSITIONS.items():
        if action is Action.SUBMIT:
            continue
        names = t.required + t.optional
        actions[action.value] = {
            "type": "object", "additionalProperties": False,
            "required": list(t.required), "properties": {n: _field_schema(n) for n in names},
        }
    filters = [
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": [s.value for s in CaseStatus]}},
        {"name": "unit", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]+$"}},
        {"name": "category", "in": "query", "schema": {"type": "string", "maxLength": 32}},
        {"name": "district", "in": "query", "schema": {"type": "string", "maxLength": 64}},
        {"name": "channel", "in": "query", "schema": {"type": "string", "enum": [c.value for c in Channel]}},
        {"name": "urgency", "in": "query", "schema": {"type": "string", "enum": [u.value for u in Urgency]}},
        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"}},
        {"name": "until", "in": "query", "schema": {"type": "string", "format": "date"}},
        {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS)}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    ]
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "群众诉求办理平台 back-office API", "version": "1",
                 "description": "Sign in through /login; send the session cookie and the X-CSRF-Token header "
                                "(the csrf_token of any page) with every POST. Lists never show what you cannot see."},
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "appeals_staff"},
                                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                         "fields": {"type": "array", "items": {"type": "string"}}}},
                "Case": {"type": "object", "required": ["id", "number", "status", "version", "allowed_actions"],
                         "properties": {"id": {"type": "integer"}, "number": {"type": "string"},
                                        "status": {"type": "string", "enum": [s.value for s in CaseStatus]},
                                        "version": {"type": "integer"},
                                        "allowed_actions": {"type": "array", "items": {"type": "string"}},
                                        "timeline": {"type": "array", "items": {"type": "object"}},
                                        "citizen": {"type": "object"}}},
                "CaseList": {"type": "object", "required": ["items", "next_cursor"],
                             "properties": {"items": {"type": "array", "items": {"type": "object"}},
                                            "next_cursor": {"type": ["string", "null"]}}},
                "Intake": {"type": "object", "required": ["text"], "properties": {
                    "text": {"type": "string"}, "title": {"type": "string"}, "name": {"type": "string"},
                    "phone": {"type": "string"}, "address": {"type": "string"}, "district": {"type": "string"},
                    "street": {"type": "string"}, "category": {"type": "string"},
                    "kind": {"type": "string", "enum": [k.value for k in CaseKind]},
                    "urgency": {"type": "string", "enum": [u.value for u in Urgency]},
                    "anonymous": {"type": "boolean"}, "confidential": {"type": "boolean"}}},
                "ActionPayloads": {"type": "object", "properties": actions},
            },
        },
        "security": [{"session": []}],
        "paths": {
            "/api/me": {"get": {"operationId": "me", "responses": _responses({"type": "object"}, 401)}},
            "/api/queues": {"get": {"operationId": "queue_counts",
                                    "description": f"Cases per queue, each counted up to {API_COUNT_CAP}"
                                                   f" ({API_COUNT_CAP}: or more).",
                                    "responses": _responses({"type": "object",
                                                             "additionalProperties": {"type": "integer"}}, 401)}},
            "/api/queues/{queue}/cases": {"get": {
                "operationId": "queue_cases",
                "parameters": [{"name": "queue", "in": "path", "required": True,
                                "schema": {"type": "string", "enum": [q.key for q in QUEUES]}}, *filters],
                "responses": _responses({"$ref": "#/components/schemas/CaseList"}, 400, 401, 404)}},
            "/api/cases/{case_id}": {"get": {
                "operationId": "case_get", "parameters": [case_id],
                "responses": _responses({"$ref": "#/components/schemas/Case"}, 401, 404)}},
            "/api/cases/{case_id}/actions/{action}": {"post": {
                "operationId": "case_act", "security": [{"session": [], "csrf": []}],
                "parameters": [case_id, {"name": "action", "in": "path", "required": True,
                                         "schema": {"type": "string", "enum": list(actions)}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"expected_version": {"type": "integer", "minimum": 0},
                                   "payload": {"type": "object",
                                               "description": "fields of the action: see ActionPayloads"}}}}}},
                "responses": _responses({"$ref": "#/components/schemas/Case"}, 400, 401, 403, 404, 409)}},
            "/api/intake": {"post": {
                "operationId": "intake", "security": [{"session": [], "csrf": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Intake"}}}},
                "responses": {"201": {"description": "Recorded", "content": {"application/json": {
                    "schema": {"type": "object"}}}}, **{k: v for k, v in _responses({}, 400, 401, 403).items()
                                                        if k != "200"}}}},
        },
    }
