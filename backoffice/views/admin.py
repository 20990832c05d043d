"""Administration pages: units, staff and the dispatch catalogue."""

from __future__ import annotations

from aiohttp import web


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the administration routes."""
