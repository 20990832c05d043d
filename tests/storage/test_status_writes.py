"""Only CaseService writes a case's status: no other module assigns it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {ROOT / "storage" / "cases.py"}
PACKAGES = ("storage", "bot", "backoffice", "intents")
WRITES = {"create", "update", "update_or_create", "get_or_create", "bulk_create", "bulk_update", "update_from_dict"}


def _writes_case_status(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES:
            for kw in node.keywords:
                if kw.arg == "status" and "CaseStatus" in ast.unparse(kw.value):
                    lines.append(node.lineno)
    return lines


def test_no_module_but_case_service_assigns_a_case_status() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path in ALLOWED or "migrations" in path.parts:
                continue
            for line in _writes_case_status(ast.parse(path.read_text(encoding="utf-8"))):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []


def test_the_check_catches_an_assignment() -> None:
    sample = (
        "case.status = CaseStatus.RESOLVED\n"
        "Case.filter(id=1).update(status=CaseStatus.ARCHIVED)\n"
        "Case.filter(status=CaseStatus.RESOLVED)\n"
    )
    assert _writes_case_status(ast.parse(sample)) == [1, 2]
