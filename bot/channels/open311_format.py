"""GeoReport v2 wire format: the same data as JSON or as the specification's XML, errors included."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from aiohttp import web

CITY_ZONE = ZoneInfo("Asia/Shanghai")
#: XML element of one item of each list (GeoReport v2 names).
ITEMS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
         "values": "value"}


def w3c(moment: dt.datetime | None) -> str | None:
    """Return a W3C datetime with the city's offset (2026-11-26T09:30:00+08:00), or None."""
    return moment.astimezone(CITY_ZONE).isoformat(timespec="seconds") if moment is not None else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(parent: ET.Element, name: str, value: Any) -> None:
    node = ET.SubElement(parent, name)
    if isinstance(value, list):
        for item in value:
            _fill(node, ITEMS.get(name, "item"), item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _fill(node, key, inner)
    else:
        node.text = _text(value)


def to_xml(root: str, items: list[dict[str, Any]] | dict[str, Any]) -> str:
    """Render a list under ``root`` (one element per item), or one object as ``root``."""
    top = ET.Element(root)
    if isinstance(items, dict):
        for key, value in items.items():
            _fill(top, key, value)
    else:
        for item in items:
            _fill(top, ITEMS.get(root, "item"), item)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="unicode")


def respond(fmt: str, root: str, data: list[dict[str, Any]] | dict[str, Any], status: int = 200) -> web.Response:
    """Answer ``data`` as JSON or XML."""
    if fmt == "xml":
        return web.Response(text=to_xml(root, data), status=status, content_type="text/xml", charset="utf-8")
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json",
                        charset="utf-8")


def error(fmt: str, status: int, description: str) -> web.Response:
    """Answer the specification's error list: [{"code": …, "description": …}]."""
    return respond(fmt, "errors", [{"code": status, "description": description}], status)
