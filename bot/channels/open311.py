"""Open311 GeoReport v2: services from the dispatch catalogue, requests as cases, JSON and XML."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from intents import gazetteer
from intents.extract import mask_pii
from storage.cases import CaseService, NewCase, utcnow
from storage.errors import MissingFields
from storage.lifecycle import OPEN_STATUSES, Actor
from storage.models import Case, CatalogueEntry, Channel, Citizen, JobRun, Unit
from storage.settings import Settings

from .credentials import api_client
from .open311_format import error, respond, w3c

CASES = web.AppKey("open311_cases", CaseService)
PLACES = web.AppKey("open311_places", gazetteer.Gazetteer)
JURISDICTION = web.AppKey("open311_jurisdiction", str)
DEFINITIONS = json.loads(Path(__file__).with_name("open311_services.json").read_text(encoding="utf-8"))
PREFIX = "/open311/v2"
FMT = "{format:json|xml}"
DEFAULT_DAYS = 90
KNOWN = re.compile(r"(services|requests)(/[^/]+)?\.(json|xml)")  # the endpoints: a wrong method there is 405
MEDIA_LABEL = "照片链接 Photo: "  # the line of a case's text that shows staff the media_url a client sent
MEDIA_URL = re.compile(r"https?://\S{1,1000}")
MAX_RESULTS = 1000
MAX_DESCRIPTION = 4000
POSTS = "open311-post"  # JobRun.job of one accepted POST; key "<client>:<time>:<random>"


class PostLimit:
    """At most ``limit`` POSTs per ``window`` seconds per API key, counted in the database (all processes)."""

    def __init__(self, limit: int = 30, window: float = 60.0) -> None:
        self.limit = limit
        self.window = dt.timedelta(seconds=window)

    async def retry_after(self, client: str) -> int | None:
        """Count one POST of ``client``; return None if it may go on, else the seconds to wait."""
        now = utcnow()
        prefix = f"{client}:"
        mine = await JobRun.create(job=POSTS, key=f"{prefix}{now.timestamp():.6f}:{secrets.token_hex(4)}"[:96])
        await JobRun.filter(job=POSTS, key__startswith=prefix, created_at__lt=now - self.window).delete()
        times = await JobRun.filter(job=POSTS, key__startswith=prefix, created_at__gte=now - self.window,
                                    id__lte=mine.id).order_by("id").values_list("created_at", flat=True)
        if len(times) <= self.limit:
            return None
        await JobRun.filter(id=mine.id).delete()  # a refused POST does not count
        return max(1, math.ceil((times[-self.limit - 1] + self.window - now).total_seconds()))


LIMIT = web.AppKey("open311_post_limit", PostLimit)


def jurisdiction_of(settings: Settings) -> str:
    """Return the jurisdiction_id this server answers to: the host of APPEALS_PUBLIC_URL, else ``localhost``."""
    host = urlsplit(settings.public_url).hostname if settings.public_url else None
    return (host or "localhost").lower()


def _jurisdiction_error(request: web.Request, fmt: str, given: Any) -> web.Response | None:
    """Answer 404 when the client names a jurisdiction this server does not serve (400 when it is malformed)."""
    value = str(given or "").strip()
    if not value:
        return None  # optional: one jurisdiction is served here
    if len(value) > 255:
        return error(fmt, 400, "jurisdiction_id is too long")
    ours = request.app[JURISDICTION]
    if value.lower() != ours:
        return error(fmt, 404, f"jurisdiction_id {value[:80]} not found; this server serves {ours}")
    return None


async def _services() -> list[dict[str, Any]]:
    """Return one GeoReport service per category of the active dispatch catalogue."""
    categories = list(dict.fromkeys(await CatalogueEntry.filter(active=True).order_by("id")
                                    .values_list("category", flat=True)))
    out = []
    for category in categories:
        definition = DEFINITIONS.get(category, {})
        out.append({"service_code": category, "service_name": category,
                    "description": definition.get("description", category),
                    "metadata": bool(definition.get("attributes")), "type": "realtime",
                    "keywords": definition.get("keywords", ""), "group": ""})
    return out


async def _offered(code: str) -> bool:
    """Tell whether ``code`` is one of the services (a category of the active catalogue)."""
    return await CatalogueEntry.filter(active=True, category=code).exists()


async def services(request: web.Request) -> web.Response:
    """GET services.{format}: the service list."""
    if wrong := _jurisdiction_error(request, request.match_info["format"], request.query.get("jurisdiction_id")):
        return wrong
    return respond(request.match_info["format"], "services", await _services())


def _attributes(code: str) -> list[dict[str, Any]]:
    attributes = DEFINITIONS.get(code, {}).get("attributes", [])
    return [{"variable": True, "datatype_description": "", **a} for a in attributes]


async def service_definition(request: web.Request) -> web.Response:
    """GET services/{code}.{format}: the extra questions of one service."""
    fmt, code = request.match_info["format"], request.match_info["code"]
    if wrong := _jurisdiction_error(request, fmt, request.query.get("jurisdiction_id")):
        return wrong
    if not await _offered(code):
        return error(fmt, 404, f"service_code {code} not found")
    return respond(fmt, "service_definition", {"service_code": code, "attributes": _attributes(code)})


def _answers(code: str, form: MultiDictProxy[Any]) -> tuple[list[str], str | None]:
    """Return the attribute answers as text lines, or a description of what is wrong.

    By datatype, as the specification has them: ``singlevaluelist`` one key, ``multivaluelist`` keys given as
    ``attribute[code][]`` (or the name repeated), ``number``, ``datetime`` (W3C), ``string`` and ``text``.
    """
    lines = []
    for attribute in _attributes(code):
        name = f"attribute[{attribute['code']}]"
        given = [str(v).strip() for v in (*form.getall(name, []), *form.getall(f"{name}[]", [])) if str(v).strip()]
        if not given:
            if attribute.get("required"):
                return [], f"{name} is required"
            continue
        datatype = attribute.get("datatype", "string")
        names = {v["key"]: v["name"] for v in attribute.get("values", [])}
        if datatype in ("singlevaluelist", "multivaluelist"):
            if datatype == "singlevaluelist" and len(given) > 1:
                return [], f"{name} takes one value"
            if unknown := [v for v in given if v not in names]:
                return [], f"{name}: {unknown[0][:40]!r} is not one of {', '.join(names)}"
            answer = "、".join(names[v] for v in dict.fromkeys(given))
        elif datatype == "number":
            try:
                number = float(given[0])
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                return [], f"{name} must be a number"
            answer = given[0][:40]
        elif datatype == "datetime":
            if isinstance(when := _date(given[0]), str):
                return [], f"{name}: {when}"
            answer = given[0]
        else:
            answer = given[0][:1000 if datatype == "text" else 200]
        lines.append(f"{attribute['description']} {answer}")
    return lines, None


def _coordinate(form: MultiDictProxy[Any], name: str, limit: float) -> float | None | str:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        return f"{name} must be a number"
    return value if -limit <= value <= limit else f"{name} out of range"


async def create_request(request: web.Request) -> web.Response:
    """POST requests.{format}: create a case from a client application's report."""
    fmt = request.match_info["format"]
    form = await request.post()
    if wrong := _jurisdiction_error(request, fmt, form.get("jurisdiction_id") or request.query.get("jurisdiction_id")):
        return wrong
    client = await api_client(str(form.get("api_key") or request.query.get("api_key") or ""))
    if client is None:
        return error(fmt, 403, "api_key is missing or invalid")
    code = str(form.get("service_code") or "")
    if not code:
        return error(fmt, 400, "service_code is required")
    if not await _offered(code):
        return error(fmt, 404, f"service_code {code} not found")
    lat, lon = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    for value in (lat, lon):
        if isinstance(value, str):
            return error(fmt, 400, value)
    address = str(form.get("address_string") or form.get("address_id") or "")[:255]
    if (lat is None or lon is None) and not address:
        return error(fmt, 400, "a location is required: lat and long, address_string or address_id")
    description = str(form.get("description") or "").strip()  # optional in the specification
    if len(description) > MAX_DESCRIPTION:
        return error(fmt, 400, f"description is longer than {MAX_DESCRIPTION} characters")
    answers, problem = _answers(code, form)
    if problem:
        return error(fmt, 400, problem)
    media = str(form.get("media_url") or "")
    if media and not MEDIA_URL.fullmatch(media):
        return error(fmt, 400, "media_url must be an http or https URL")
    if media:
        answers.append(f"{MEDIA_LABEL}{media}")  # kept as text, never fetched
    if not description:
        description = f"（未附描述 No description）{code}"
    wait = await request.app[LIMIT].retry_after(client)  # a request refused above does not count
    if wait is not None:
        response = error(fmt, 429, f"too many requests for this api_key; retry after {wait} seconds")
        response.headers["Retry-After"] = str(wait)
        return response
    name = " ".join(str(form.get(k) or "").strip() for k in ("first_name", "last_name")).strip()[:64] or None
    phone = re.sub(r"[^\d+\-]", "", str(form.get("phone") or ""))[:32] or None
    citizen = await Citizen.create(name=name, phone=phone)
    places = request.app[PLACES]
    place = places.resolve(address) if address else None
    district = place.district if place else None
    if district is None and lat is not None and lon is not None:
        district = places.district_at(lat, lon)  # a pin without a readable address: the map decides (属地)
    try:
        case = await request.app[CASES].submit(NewCase(
            text="\n".join([description, *answers]), channel=Channel.OPEN311, citizen_id=citizen.id, category=code,
            address=address, district=district, street=place.street if place else None,
            latitude=lat, longitude=lon, anonymous=name is None and phone is None,  # type: ignore[arg-type]
            suggestion={"open311_client": client, **({"open311_media_url": media} if media else {})},
        ), Actor.citizen(citizen.id))
    except MissingFields as exc:
        await citizen.delete()  # nothing is left of a refused request
        return error(fmt, 400, f"missing: {exc}")
    notice = f"已受理，编号 {case.number}。Received as {case.number}."
    return respond(fmt, "service_requests", [{"service_request_id": case.number, "service_notice": notice,
                                              "account_id": None}])


def _public(case: Case, unit: str | None) -> dict[str, Any]:
    """Return a case as a GeoReport request: masked text, street-level address, no identity."""
    closed = case.status not in OPEN_STATUSES
    place = " ".join(p for p in (case.district, case.street) if p)
    return {
        "service_request_id": case.number, "status": "closed" if closed else "open",
        "status_notes": mask_pii(case.reply)[:2000] if closed and case.reply else None,
        "service_name": case.category, "service_code": case.category,
        "description": mask_pii(case.text)[:MAX_DESCRIPTION], "agency_responsible": unit,
        "service_notice": None, "requested_datetime": w3c(case.created_at), "updated_datetime": w3c(case.updated_at),
        "expected_datetime": w3c(case.due_at), "address": place or None, "address_id": None, "zipcode": None,
        "lat": round(case.latitude, 4) if case.latitude is not None else None,
        "long": round(case.longitude, 4) if case.longitude is not None else None, "media_url": _media(case),
    }


def _media(case: Case) -> str | None:
    """Return the media_url a client application sent with the request (masked as the text is), if any."""
    media = (case.suggestion or {}).get("open311_media_url") if case.channel == Channel.OPEN311 else None
    return mask_pii(media) if isinstance(media, str) and media else None


async def _render(cases: list[Case]) -> list[dict[str, Any]]:
    units = {u.id: u.name_zh for u in await Unit.filter(id__in={c.lead_unit_id for c in cases if c.lead_unit_id})}
    return [_public(c, units.get(c.lead_unit_id)) for c in cases]  # type: ignore[arg-type]


def _date(raw: str | None) -> dt.datetime | None | str:
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return f"{raw!r} is not a W3C datetime"
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def list_requests(request: web.Request) -> web.Response:
    """GET requests.{format}: requests by id, or by service, status and date (90 days, 1000 at most)."""
    fmt, query = request.match_info["format"], request.query
    if wrong := _jurisdiction_error(request, fmt, query.get("jurisdiction_id")):
        return wrong
    visible = Case.filter(confidential=False)
    ids = [i.strip() for i in query.get("service_request_id", "").split(",") if i.strip()]
    if ids:  # the specification: other parameters are ignored
        return respond(fmt, "service_requests", await _render(await visible.filter(number__in=ids[:MAX_RESULTS])))
    start, end = _date(query.get("start_date")), _date(query.get("end_date"))
    for value in (start, end):
        if isinstance(value, str):
            return error(fmt, 400, value)
    span = dt.timedelta(days=DEFAULT_DAYS)  # the specification: a range may not span more than 90 days
    if start is None:
        start = (end or utcnow()) - span  # type: ignore[operator]
    elif end is None:
        try:
            end = start + span  # type: ignore[operator]
        except OverflowError:
            return error(fmt, 400, f"start_date {query.get('start_date')!r} is out of range")
    if end is not None and end - start > span:  # type: ignore[operator]
        return error(fmt, 400, f"start_date and end_date may not span more than {DEFAULT_DAYS} days")
    cases = visible.filter(created_at__gte=start)
    if end is not None:
        cases = cases.filter(created_at__lte=end)
    codes = [c.strip() for c in query.get("service_code", "").split(",") if c.strip()]
    if codes:
        cases = cases.filter(category__in=codes)
    statuses = {s.strip() for s in query.get("status", "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        return error(fmt, 400, "status must be open, closed or both")
    if statuses == {"open"}:
        cases = cases.filter(status__in=list(OPEN_STATUSES))
    elif statuses == {"closed"}:
        cases = cases.exclude(status__in=list(OPEN_STATUSES))
    return respond(fmt, "service_requests", await _render(await cases.order_by("-created_at").limit(MAX_RESULTS)))


async def get_request(request: web.Request) -> web.Response:
    """GET requests/{id}.{format}: one request, as a list of one."""
    fmt = request.match_info["format"]
    if wrong := _jurisdiction_error(request, fmt, request.query.get("jurisdiction_id")):
        return wrong
    case = await Case.get_or_none(number=request.match_info["request_id"], confidential=False)
    if case is None:
        return error(fmt, 404, f"service_request_id {request.match_info['request_id']} not found")
    return respond(fmt, "service_requests", await _render([case]))


def setup(app: web.Application, settings: Settings, cases: CaseService) -> None:
    """Add the GeoReport v2 routes to ``app``."""
    app[CASES] = cases
    app[PLACES] = gazetteer.load(settings.gazetteer_path)
    app[JURISDICTION] = jurisdiction_of(settings)
    app[LIMIT] = PostLimit()
    app.router.add_get(f"{PREFIX}/services.{FMT}", services, name="open311_services")
    app.router.add_get(PREFIX + "/services/{code:[^/]+}." + FMT, service_definition, name="open311_service")
    app.router.add_post(f"{PREFIX}/requests.{FMT}", create_request, name="open311_create")
    app.router.add_get(f"{PREFIX}/requests.{FMT}", list_requests, name="open311_requests")
    app.router.add_get(PREFIX + "/requests/{request_id:[^/]+}." + FMT, get_request, name="open311_request")
    for method in ("GET", "POST"):
        app.router.add_route(method, PREFIX + "/{tail:.*}", unknown)  # last: what no route above matched


async def unknown(request: web.Request) -> web.Response:
    """Answer a URL under /open311/v2/ that names no endpoint or format (404), or an endpoint with a method it does
    not take (405), in the specification's error format."""
    tail = request.match_info["tail"]
    fmt = "xml" if tail.endswith(".xml") else "json"
    if KNOWN.fullmatch(tail):
        response = error(fmt, 405, f"{request.method} is not allowed on {request.path}")
        response.headers["Allow"] = "POST" if tail.startswith("requests.") and request.method == "GET" else "GET"
        return response
    return error(fmt, 404, f"{request.path} is not a GeoReport v2 endpoint here (formats: json, xml)")
