"""Open311 GeoReport v2: services, definitions, requests in and out, JSON and XML, the spec's errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp

from backoffice.app import create_app
from bot.channels import open311
from bot.channels.credentials import create_api_key
from storage.models import Case, Channel
from storage.settings import Settings
from tests.support.server import serving

SERVICES = "/open311/v2/services"
REQUESTS = "/open311/v2/requests"


async def get(base: str, path: str, **params: str) -> tuple[int, Any]:
    """GET a GeoReport URL; return status and parsed JSON (or XML root)."""
    async with aiohttp.ClientSession() as http, http.get(base + path, params=params) as response:
        if path.endswith(".xml"):
            assert response.content_type == "text/xml"
            return response.status, ET.fromstring(await response.text())
        return response.status, await response.json()


async def post(base: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
    """POST a form the way Open311 clients do."""
    async with aiohttp.ClientSession() as http, http.post(base + path, data=form) as response:
        if path.endswith(".xml"):
            return response.status, ET.fromstring(await response.text())
        return response.status, await response.json()


async def test_services_in_json_and_xml(base: str) -> None:
    status, services = await get(base, f"{SERVICES}.json")
    assert status == 200
    by_code = {s["service_code"]: s for s in services}
    assert by_code["环境保护"]["metadata"] is True and by_code["交通运输"]["metadata"] is False
    assert set(services[0]) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    status, root = await get(base, f"{SERVICES}.xml")
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service/service_code").text == services[0]["service_code"]


async def test_service_definition_and_unknown_code(base: str) -> None:
    status, definition = await get(base, f"{SERVICES}/环境保护.json")
    assert status == 200 and definition["service_code"] == "环境保护"
    attribute = definition["attributes"][0]
    assert attribute["code"] == "when" and attribute["variable"] is True and attribute["values"][0]["key"] == "day"
    status, root = await get(base, f"{SERVICES}/环境保护.xml")
    assert root.tag == "service_definition" and root.find("attributes/attribute/values/value/key").text == "day"
    status, errors = await get(base, f"{SERVICES}/nothing.json")
    assert status == 404 and errors[0]["code"] == 404 and errors[0]["description"]
    status, root = await get(base, f"{SERVICES}/nothing.xml")
    assert status == 404 and root.tag == "errors" and root.find("error/code").text == "404"


async def test_post_a_request_with_an_api_key_and_read_it_back(base: str) -> None:
    key = await create_api_key("fixmystreet-app")
    form = {"api_key": key, "service_code": "环境保护", "lat": "28.6801", "long": "115.8922",
            "address_string": "东湖区幸福里小区", "description": "楼下烧烤店油烟很大，电话13812345678",
            "attribute[when]": "night", "first_name": "三", "last_name": "张", "phone": "13812345678"}
    status, created = await post(base, f"{REQUESTS}.json", form)
    assert status == 200, created
    number = created[0]["service_request_id"]
    case = await Case.get(number=number)
    assert case.channel == Channel.OPEN311 and case.category == "环境保护" and "夜间" in case.text
    assert not case.anonymous and case.district == "东湖区"
    status, found = await get(base, f"{REQUESTS}/{number}.json")
    request = found[0]
    assert status == 200 and request["status"] == "open" and request["service_code"] == "环境保护"
    assert "13812345678" not in request["description"] and "138****5678" in request["description"]
    assert request["requested_datetime"].endswith("+08:00")
    status, root = await get(base, f"{REQUESTS}/{number}.xml")
    assert root.tag == "service_requests" and root.find("request/service_request_id").text == number
    status, listed = await get(base, f"{REQUESTS}.json", service_code="环境保护", status="open")
    assert [r["service_request_id"] for r in listed] == [number]
    assert (await get(base, f"{REQUESTS}.json", status="closed"))[1] == []
    by_id = (await get(base, f"{REQUESTS}.json", service_request_id=f"{number},nope"))[1]
    assert [r["service_request_id"] for r in by_id] == [number]
    status, xml = await post(base, f"{REQUESTS}.xml", {**form, "description": "又来了"})
    assert status == 200 and xml.find("request/service_request_id").text.startswith("8890-")


async def test_a_pin_without_an_address_gets_the_district_of_the_map(base: str) -> None:
    key = await create_api_key("pin-only-app")
    form = {"api_key": key, "service_code": "城乡建设", "description": "路灯坏了", "lat": "28.30", "long": "112.85"}
    status, created = await post(base, f"{REQUESTS}.json", form)
    assert status == 200, created
    assert (await Case.get(number=created[0]["service_request_id"])).district == "西山区"
    far = {**form, "lat": "39.90", "long": "116.40"}  # Beijing: outside the city, left to the dispatcher
    status, created = await post(base, f"{REQUESTS}.json", far)
    assert status == 200 and (await Case.get(number=created[0]["service_request_id"])).district is None


async def test_errors_follow_the_specification(base: str) -> None:
    key = await create_api_key("client")
    good = {"api_key": key, "service_code": "城乡建设", "lat": "28.6", "long": "115.9", "description": "路灯坏了"}
    cases = [({**good, "api_key": "wrong"}, 403), ({**good, "service_code": "nope"}, 404),
             ({k: v for k, v in good.items() if k not in ("lat", "long")}, 400), ({**good, "lat": "north"}, 400),
             ({**good, "media_url": "javascript:alert(1)"}, 400),
             ({**good, "service_code": "环境保护", "attribute[when]": "x"}, 400)]
    for form, code in cases:
        status, errors = await post(base, f"{REQUESTS}.json", form)
        assert status == code and errors == [{"code": code, "description": errors[0]["description"]}], form
    status, root = await post(base, f"{REQUESTS}.xml", {**good, "api_key": "wrong"})
    assert status == 403 and root.find("error/code").text == "403"
    assert (await get(base, f"{REQUESTS}.json", start_date="yesterday"))[0] == 400
    status, errors = await get(base, f"{REQUESTS}.json", start_date="2026-01-01T00:00:00Z",
                               end_date="2026-06-01T00:00:00Z")
    assert status == 400 and "90 days" in errors[0]["description"]
    status, errors = await get(base, "/open311/v2/services.html")
    assert status == 404 and errors == [{"code": 404, "description": errors[0]["description"]}]
    status, root = await get(base, "/open311/v2/discovery.xml")
    assert status == 404 and root.tag == "errors"
    status, errors = await post(base, f"{SERVICES}.json", {"api_key": key})  # an endpoint, the wrong method
    assert status == 405 and errors[0]["code"] == 405
    assert (await get(base, f"{REQUESTS}.json", start_date="9999-12-30T00:00:00Z"))[0] == 400
    assert (await get(base, f"{REQUESTS}/8890-00000000-00000.json"))[0] == 404
    assert await Case.all().count() == 0


async def test_confidential_cases_are_never_listed(base: str) -> None:
    key = await create_api_key("client2")
    form = {"api_key": key, "service_code": "城乡建设", "address_string": "西山区人民路", "description": "井盖缺失"}
    number = (await post(base, f"{REQUESTS}.json", form))[1][0]["service_request_id"]
    await Case.filter(number=number).update(confidential=True)
    assert (await get(base, f"{REQUESTS}.json"))[1] == []
    assert (await get(base, f"{REQUESTS}/{number}.json"))[0] == 404


async def test_posts_are_rate_limited_per_api_key_across_processes(settings: Settings) -> None:
    first, second = create_app(settings, manage_orm=False), create_app(settings, manage_orm=False)
    for app in (first, second):  # two processes on one database: the count is shared
        app[open311.LIMIT] = open311.PostLimit(limit=3, window=60)
    busy, other = await create_api_key("busy-app"), await create_api_key("other-app")
    form = {"service_code": "城乡建设", "address_string": "西山区人民路", "description": "井盖缺失"}
    async with serving(first) as one, serving(second) as two, aiohttp.ClientSession() as http:
        for _ in range(5):  # refused requests (no location here) do not count
            assert (await post(one, f"{REQUESTS}.json", {**form, "api_key": busy, "address_string": ""}))[0] == 400
        for base in (one, two, one):
            assert (await post(base, f"{REQUESTS}.json", {**form, "api_key": busy}))[0] == 200
        async with http.post(f"{two}{REQUESTS}.json", data={**form, "api_key": busy}) as refused:
            assert refused.status == 429
            errors = await refused.json()
            assert errors == [{"code": 429, "description": errors[0]["description"]}]
            assert "retry after" in errors[0]["description"]
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
        status, root = await post(one, f"{REQUESTS}.xml", {**form, "api_key": busy})
        assert status == 429 and root.tag == "errors" and root.find("error/code").text == "429"
        assert (await post(two, f"{REQUESTS}.json", {**form, "api_key": other}))[0] == 200  # per key
    assert await Case.all().count() == 4  # refused requests created nothing


async def test_a_jurisdiction_we_do_not_serve_is_refused(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, public_url="https://appeals.jiangcity.example/"),
                     manage_orm=False)
    key = await create_api_key("client3")
    form = {"api_key": key, "service_code": "城乡建设", "address_string": "西山区人民路", "description": "井盖缺失"}
    async with serving(app) as base:
        assert (await get(base, f"{SERVICES}.json", jurisdiction_id="appeals.jiangcity.example"))[0] == 200
        status, errors = await get(base, f"{SERVICES}.json", jurisdiction_id="sfgov.org")
        assert status == 404 and errors[0]["code"] == 404 and "appeals.jiangcity.example" in errors[0]["description"]
        status, root = await get(base, f"{REQUESTS}.xml", jurisdiction_id="sfgov.org")
        assert status == 404 and root.find("error/code").text == "404"
        assert (await get(base, f"{SERVICES}/环境保护.json", jurisdiction_id="sfgov.org"))[0] == 404
        assert (await get(base, f"{REQUESTS}/8890-1.json", jurisdiction_id="sfgov.org"))[0] == 404
        assert (await get(base, f"{REQUESTS}.json", jurisdiction_id="x" * 300))[0] == 400
        assert (await post(base, f"{REQUESTS}.json", {**form, "jurisdiction_id": "sfgov.org"}))[0] == 404
        assert await Case.all().count() == 0
        status, created = await post(base, f"{REQUESTS}.json", {**form, "jurisdiction_id": "appeals.jiangcity.example"})
        assert status == 200 and created[0]["service_request_id"]
        assert (await post(base, f"{REQUESTS}.json", form))[0] == 200  # optional: one jurisdiction served here


async def test_a_request_with_only_a_category_a_pin_and_a_photo_link(base: str) -> None:
    key = await create_api_key("photo-app")
    form = {"api_key": key, "service_code": "城乡建设", "lat": "28.6801", "long": "115.8922",
            "media_url": "https://photos.example.org/p/42.jpg"}  # description is optional in the specification
    status, created = await post(base, f"{REQUESTS}.json", {
        **form, "description": "照片链接 Photo: https://evil.example/x.jpg", "media_url": "https://p.example/u/13812345678.jpg"})
    request = (await get(base, f"{REQUESTS}/{created[0]['service_request_id']}.json"))[1][0]
    assert request["media_url"] == "https://p.example/u/138****5678.jpg"  # what was sent as media_url, masked
    status, created = await post(base, f"{REQUESTS}.json", form)
    assert status == 200, created
    number = created[0]["service_request_id"]
    case = await Case.get(number=number)
    assert "城乡建设" in case.text and "https://photos.example.org/p/42.jpg" in case.text  # staff see the link
    request = (await get(base, f"{REQUESTS}/{number}.json"))[1][0]
    assert request["media_url"] == "https://photos.example.org/p/42.jpg"
    root = (await get(base, f"{REQUESTS}/{number}.xml"))[1]
    assert root.find("request/media_url").text == "https://photos.example.org/p/42.jpg"


async def test_only_a_start_date_lists_the_90_days_from_it(base: str) -> None:
    key = await create_api_key("dates-app")
    form = {"api_key": key, "service_code": "城乡建设", "address_string": "西山区人民路", "description": "井盖缺失"}
    number = (await post(base, f"{REQUESTS}.json", form))[1][0]["service_request_id"]
    old = await Case.get(number=number)
    await Case.filter(id=old.id).update(created_at=old.created_at - dt.timedelta(days=200))
    recent = (await post(base, f"{REQUESTS}.json", form))[1][0]["service_request_id"]
    since = (old.created_at - dt.timedelta(days=201)).isoformat()
    assert [r["service_request_id"] for r in (await get(base, f"{REQUESTS}.json", start_date=since))[1]] == [number]
    assert [r["service_request_id"] for r in (await get(base, f"{REQUESTS}.json"))[1]] == [recent]


async def test_attributes_of_every_datatype_of_the_specification(base: str, monkeypatch) -> None:
    attributes = [
        {"code": "kinds", "datatype": "multivaluelist", "required": True, "order": 1, "description": "哪些问题？",
         "values": [{"key": "smoke", "name": "油烟"}, {"key": "noise", "name": "噪音"},
                    {"key": "water", "name": "污水"}]},
        {"code": "floors", "datatype": "number", "required": False, "order": 2, "description": "影响几层？"},
        {"code": "since", "datatype": "datetime", "required": False, "order": 3, "description": "从何时开始？"},
        {"code": "shop", "datatype": "string", "required": False, "order": 4, "description": "店名？"},
    ]
    monkeypatch.setitem(open311.DEFINITIONS, "环境保护", {**open311.DEFINITIONS["环境保护"], "attributes": attributes})
    key = await create_api_key("datatypes-app")
    form = aiohttp.FormData([("api_key", key), ("service_code", "环境保护"), ("lat", "28.68"), ("long", "115.89"),
                             ("description", "楼下餐馆"), ("attribute[kinds][]", "smoke"),
                             ("attribute[kinds][]", "noise"),
                             ("attribute[floors]", "3"), ("attribute[since]", "2026-11-01T20:00:00+08:00"),
                             ("attribute[shop]", "老王烧烤")])
    async with aiohttp.ClientSession() as http, http.post(base + f"{REQUESTS}.json", data=form) as response:
        created = await response.json()
        assert response.status == 200, created
    text = (await Case.get(number=created[0]["service_request_id"])).text
    assert "哪些问题？ 油烟、噪音" in text and "影响几层？ 3" in text and "老王烧烤" in text and "2026-11-01" in text
    good = {"api_key": key, "service_code": "环境保护", "lat": "28.68", "long": "115.89", "description": "油烟"}
    for bad, word in (({}, "required"), ({"attribute[kinds][]": "fire"}, "not one of"),
                      ({"attribute[kinds]": "smoke", "attribute[floors]": "three"}, "number"),
                      ({"attribute[kinds]": "smoke", "attribute[since]": "last week"}, "datetime")):
        status, errors = await post(base, f"{REQUESTS}.json", {**good, **bad})
        assert status == 400 and word in errors[0]["description"], (bad, errors)
