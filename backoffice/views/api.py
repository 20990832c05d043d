"""The JSON API: the same operations as the pages, described at /api/openapi.json."""

from __future__ import annotations

from aiohttp import web


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the API routes."""
