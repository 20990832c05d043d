"""The JSON API: same actions as the pages, the OpenAPI document, and a seeded random run over it."""

from __future__ import annotations

import random
from typing import Any

from storage.lifecycle import TRANSITIONS, Action, CaseStatus
from storage.models import Case
from tests.backoffice.conftest import Browser, City
from tests.support.builders import make_case


async def test_dispatcher_accepts_and_dispatches_through_the_api(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.SUBMITTED)
    dispatcher = await login_as("dispatcher")
    status, body = await dispatcher.api("GET", f"/api/cases/{case.id}")
    assert status == 200 and body["allowed_actions"][:2] == ["accept", "reject"]
    assert body["citizen"]["phone"] == "138****5678"
    status, body = await dispatcher.api("POST", f"/api/cases/{case.id}/actions/accept",
                                        {"expected_version": 1, "payload": {"category": "城乡建设"}})
    assert status == 200 and body["status"] == "accepted" and body["version"] == 2
    status, body = await dispatcher.api("POST", f"/api/cases/{case.id}/actions/dispatch",
                                        {"expected_version": 1, "payload": {"lead_unit": "lead"}})
    assert status == 409 and body["error"] == "conflict" and "其他人刚刚修改" in body["message"]
    status, body = await dispatcher.api("POST", f"/api/cases/{case.id}/actions/dispatch",
                                        {"expected_version": 2, "payload": {}})
    assert status == 400 and body["fields"] == ["lead_unit"]
    status, body = await dispatcher.api("POST", f"/api/cases/{case.id}/actions/dispatch",
                                        {"expected_version": 2, "payload": {"lead_unit": "lead",
                                                                            "co_units": ["co"]}})
    assert status == 200 and body["status"] == "dispatched" and len(body["units"]) == 2
    _, page = await dispatcher.api("GET", "/api/queues/to_sign/cases")
    assert [c["id"] for c in page["items"]] == [case.id]


async def test_operator_records_a_call_through_the_api(login_as, city: City) -> None:
    operator = await login_as("operator")
    status, body = await operator.api("POST", "/api/intake", {"text": "小区垃圾三天没人清运", "name": "赵六",
                                                              "phone": "13700001234", "confidential": True})
    assert status == 201 and body["status"] == "submitted"
    case = await Case.get(id=body["id"])
    assert case.channel.value == "phone" and case.confidential
    status, _ = await operator.api("POST", "/api/intake", {"text": 12})
    assert status == 400
    status, body = await operator.api("POST", "/api/intake", {"text": "  "})
    assert status == 400
    from storage.models import CatalogueEntry

    await CatalogueEntry.create(category="城乡建设", unit=city.world.lead)
    status, body = await operator.api("POST", "/api/intake", {"text": "小区垃圾三天没人清运", "category": "火星类别"})
    assert status == 400 and "不是派单目录中的类别" in body["message"] and await Case.all().count() == 1
    status, body = await operator.api("POST", "/api/intake", {"text": "小区垃圾三天没人清运", "category": "城乡建设"})
    assert status == 201


async def test_openapi_lists_every_api_route_and_action(browser: Browser, city: City) -> None:
    status, doc = await browser.api("GET", "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    routes = {"/api/me", "/api/queues", "/api/queues/{queue}/cases", "/api/cases/{case_id}",
              "/api/cases/{case_id}/actions/{action}", "/api/intake"}
    assert routes <= set(doc["paths"])
    payloads = doc["components"]["schemas"]["ActionPayloads"]["properties"]
    assert set(payloads) == {a.value for a in TRANSITIONS if a is not Action.SUBMIT}
    for action, schema in payloads.items():
        assert schema["required"] == list(TRANSITIONS[Action(action)].required)


def _junk(rng: random.Random) -> Any:
    choices: list[Any] = [None, True, 0, -1, 2**40, 1.5, "", "x" * rng.randint(1, 300), "' OR 1=1 --",
                          "<script>", "\x00", "路灯", [], ["lead"], {}, {"a": 1}, "lead", "satisfied", "1", "²",
                          "99999999999", [2**40], "١٢"]
    return rng.choice(choices)


def _matches(schema: dict[str, Any], value: Any, doc: dict[str, Any]) -> bool:
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    kind = schema.get("type")
    if kind == "object":
        return isinstance(value, dict) and all(k in value for k in schema.get("required", []))
    return True


async def test_random_requests_never_fail_and_match_the_document(login_as, city: City) -> None:
    """A seeded property-style run: random ids, actions, filters and bodies; no 5xx, documented answers."""
    cases = [await make_case(city.world, s) for s in (CaseStatus.SUBMITTED, CaseStatus.IN_PROGRESS,
                                                      CaseStatus.PENDING_REVIEW, CaseStatus.RESOLVED)]
    rng = random.Random(8890)
    clients = {name: await login_as(name) for name in ("dispatcher", "handler", "supervisor", "auditor")}
    _, doc = await clients["auditor"].api("GET", "/api/openapi.json")
    actions = list(doc["components"]["schemas"]["ActionPayloads"]["properties"]) + ["nope"]
    fields = sorted({f for t in TRANSITIONS.values() for f in t.required + t.optional})
    ids = [str(c.id) for c in cases] + ["0", "99999999", "abc", "1e3"]
    queues = ["submitted", "mine", "all", "review", "nope"]
    params = ["status", "unit", "category", "district", "channel", "urgency", "since", "until", "q", "sort",
              "cursor", "zzz"]
    for _ in range(250):
        client = clients[rng.choice(list(clients))]
        kind = rng.random()
        if kind < 0.25:
            query = "&".join(f"{rng.choice(params)}={_junk(rng)}" for _ in range(rng.randint(0, 3)))
            template, path = "/api/queues/{queue}/cases", f"/api/queues/{rng.choice(queues)}/cases?{query}"
            method, body = "get", None
        elif kind < 0.45:
            template, path, method, body = "/api/cases/{case_id}", f"/api/cases/{rng.choice(ids)}", "get", None
        elif kind < 0.9:
            payload = {rng.choice(fields): _junk(rng) for _ in range(rng.randint(0, 3))}
            body = rng.choice([{"payload": payload}, {"expected_version": _junk(rng), "payload": payload},
                               payload, _junk(rng)])
            template = "/api/cases/{case_id}/actions/{action}"
            path, method = f"/api/cases/{rng.choice(ids)}/actions/{rng.choice(actions)}", "post"
        else:
            body = {rng.choice(["text", "name", "kind", "urgency", "confidential"]): _junk(rng)}
            template, path, method = "/api/intake", "/api/intake", "post"
        status, answer = await client.api(method.upper(), path, body)
        assert status < 500, (path, body, answer)
        documented = doc["paths"][template][method]["responses"]
        assert str(status) in documented, (path, body, status, answer)
        schema = documented[str(status)]["content"]["application/json"]["schema"]
        assert _matches(schema, answer, doc), (path, status, answer)
