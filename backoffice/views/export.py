"""Bulk CSV export: needs a reason, is logged, masks personal data and hides confidential citizens."""

from __future__ import annotations

from aiohttp import web

from ..auth import current_actor
from .common import render


async def export_form(request: web.Request) -> web.Response:
    """Show the export form."""
    current_actor(request)
    return await render(request, "export.html", {})


async def export_csv(request: web.Request) -> web.Response:
    """Export the filtered cases as CSV."""
    current_actor(request)
    raise web.HTTPNotImplemented()
