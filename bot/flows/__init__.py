"""The conversations the bot offers, as data: menu, submit, query, evaluate."""

from __future__ import annotations

from ..dialog.flow import Flow
from . import evaluate, menu, query, submit


def all_flows() -> dict[str, Flow]:
    """Return every flow by name."""
    return {f.name: f for f in (menu.FLOW, submit.FLOW, query.FLOW, evaluate.FLOW)}
