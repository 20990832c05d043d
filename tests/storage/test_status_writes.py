"""Only CaseService writes a case's status: no other module assigns it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {ROOT / "storage" / "cases.py"}
PACKAGES = ("storage", "bot", "backoffice", "intents")
WRITES = {"create", "update", "update_or_create", "get_or_create", "bulk_create", "bulk_update", "update_from_dict",
          "save"}
RAW_SQL = re.compile(r"UPDATE\s+\"?appeal_case\"?", re.I)


def _root(node: ast.AST) -> str:
    """Return the name a call chain such as ``Case.filter(x).update`` starts from."""
    while isinstance(node, ast.Attribute | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _writes_case_status(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status" and "case" in _root(target).lower():
                    lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES:
            if _root(node) == "Case" and any(kw.arg in ("status", None) for kw in node.keywords):
                lines.append(node.lineno)  # status=…, or **kwargs that may hold it
    return lines


def test_no_module_but_case_service_assigns_a_case_status() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path in ALLOWED or "migrations" in path.parts:
                continue
            source = path.read_text(encoding="utf-8")
            for line in _writes_case_status(ast.parse(source)):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
            if RAW_SQL.search(source):
                offenders.append(f"{path.relative_to(ROOT)}: raw UPDATE of appeal_case")
    assert offenders == []


def test_the_check_catches_every_form_of_assignment() -> None:
    sample = (
        "case.status = CaseStatus.RESOLVED\n"
        "Case.filter(id=1).update(status=CaseStatus.ARCHIVED)\n"
        "Case.filter(status=CaseStatus.RESOLVED)\n"
        "Case.filter(id=1).update(status='archived')\n"
        "Case.filter(id=1).update(**changes)\n"
        "Notification.filter(id=1).update(status='sent')\n"
    )
    assert _writes_case_status(ast.parse(sample)) == [1, 2, 4, 5]
    assert RAW_SQL.search('await conn.execute("UPDATE appeal_case SET status = 1")')
