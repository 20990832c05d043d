"""The audit log: who looked at citizens' personal data, exported cases, signed in, or changed accounts and settings."""

from __future__ import annotations

import json

from aiohttp import web
from tortoise.expressions import Q

from storage.accounts import staff_names
from storage.deadlines import local
from storage.lifecycle import Action, Role
from storage.models import AuditEntry, CaseEvent

from ..auth import current_actor
from ..i18n import lang, tr
from .common import error_page, render

ROLES = frozenset({Role.AUDITOR, Role.ADMIN})
SHOWN = 200  # the newest entries of each list
#: Kinds of audit entry, by action prefix, as the filter offers them (zh-CN, English).
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "export": ("导出", "Exports", ("export_",)),
    "login": ("登录与密码", "Sign-ins and passwords", ("login", "logout", "password_", "totp_", "recovery_")),
    "accounts": ("账号与单位", "Accounts and units", ("staff_", "unit_")),
    "settings": ("规则与设置", "Rules and settings", ("policy_", "holiday_", "kpi_", "catalogue_")),
    "other": ("其他", "Other", ()),
}
#: What an entry's action was, in words.
ACTIONS: dict[str, tuple[str, str]] = {
    "login": ("登录", "Signed in"),
    "login_failed": ("登录失败", "Sign-in failed"),
    "login_password_ok": ("密码正确，待两步验证", "Password right, second factor due"),
    "logout": ("退出", "Signed out"),
    "password_changed": ("修改密码", "Password changed"),
    "password_change_failed": ("修改密码失败", "Password change failed"),
    "password_set_cli": ("命令行设置密码", "Password set from the command line"),
    "totp_enrolled": ("启用两步验证", "Second factor enrolled"),
    "totp_failed": ("两步验证码错误", "Wrong second-factor code"),
    "recovery_codes_replaced": ("更换恢复码", "Recovery codes replaced"),
    "staff_created": ("新建账号", "Account created"),
    "staff_deactivated": ("停用账号", "Account deactivated"),
    "unit_created": ("新建单位", "Unit created"),
    "unit_deactivated": ("停用单位", "Unit deactivated"),
    "policy_created": ("修改时限规则", "Time-limit rule changed"),
    "holiday_added": ("添加节假日调整", "Holiday override added"),
    "holiday_removed": ("删除节假日调整", "Holiday override removed"),
    "kpi_weights_changed": ("修改考核权重", "KPI weights changed"),
    "outbox_retry": ("重发通知", "Notice sent again"),
    "risk_ack": ("确认风险预警", "Risk warning acknowledged"),
    "case_denied": ("越权访问诉求被拒", "Case access refused"),
    "minimise": ("个人信息最小化", "Personal data minimised"),
    "export_training": ("导出训练数据", "Training data exported"),
    "export_csv": ("导出 CSV", "Exported CSV"),
    "export_xlsx": ("导出 Excel", "Exported Excel"),
}


def _of_kind(kind: str) -> Q:
    """Return the filter of the entries of one kind (those of no listed prefix for "other")."""
    prefixes = KINDS[kind][2] or tuple(p for _, _, listed in KINDS.values() for p in listed)
    matches = Q(*(Q(action__startswith=p) for p in prefixes), join_type=Q.OR)
    return ~matches if kind == "other" else matches


async def audit_page(request: web.Request) -> web.Response:
    """List the newest audit entries (optionally of one kind) and the newest views of citizens' personal data."""
    _, actor = current_actor(request)
    if not actor.roles & ROLES:
        return await error_page(request, 403, tr(request, "只有审计员和管理员可以查看审计日志。",
                                                 "Only auditors and admins see the audit log."))
    english = lang(request) == "en"
    kind = request.query.get("kind", "")
    entries = await AuditEntry.filter(_of_kind(kind) if kind in KINDS else Q()).order_by("-id").limit(SHOWN)
    views = await CaseEvent.filter(action=Action.UNMASK).order_by("-id").limit(SHOWN).prefetch_related("case")
    names = await staff_names([e.staff_id for e in entries] + [v.staff_id for v in views])  # type: ignore[attr-defined]
    rows = [{
        "at": local(e.created_at), "staff": names.get(e.staff_id, "—"),  # type: ignore[attr-defined]
        "action": ACTIONS.get(e.action, (e.action, e.action))[1 if english else 0], "target": e.target,
        "reason": e.reason, "data": json.dumps(e.data, ensure_ascii=False) if e.data else "",
    } for e in entries]
    unmasked = [{
        "at": local(v.created_at), "staff": names.get(v.staff_id, "—"),  # type: ignore[attr-defined]
        "case_id": v.case_id, "number": v.case.number,  # type: ignore[attr-defined]
        "reason": (v.data or {}).get("reason", ""),
    } for v in views]
    kinds = [(key, en if english else zh) for key, (zh, en, _) in KINDS.items()]
    return await render(request, "audit.html", {"rows": rows, "unmasked": unmasked, "kinds": kinds, "kind": kind})


def add_routes(r: web.UrlDispatcher) -> None:
    """Register the audit log page."""
    r.add_get("/audit", audit_page, name="audit")
