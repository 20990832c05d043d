"""zh-CN and English labels for every status, action, role and choice of the lifecycle."""

from __future__ import annotations

from enum import StrEnum

from .lifecycle import Action, CaseStatus, Rating, RejectClass, Role, SuperviseLevel
from .models import Channel

Label = tuple[str, str]  # (zh-CN, en)

STATUS: dict[CaseStatus, Label] = {
    CaseStatus.SUBMITTED: ("待受理", "Submitted"),
    CaseStatus.ACCEPTED: ("已受理", "Accepted"),
    CaseStatus.REJECTED: ("不予受理", "Not accepted"),
    CaseStatus.MERGED: ("已并单", "Merged"),
    CaseStatus.DISPATCHED: ("已派单", "Dispatched"),
    CaseStatus.RETURNED: ("已退单", "Returned"),
    CaseStatus.IN_PROGRESS: ("办理中", "In progress"),
    CaseStatus.PENDING_REVIEW: ("待审核", "Pending review"),
    CaseStatus.RESOLVED: ("已办结", "Resolved"),
    CaseStatus.EVALUATED: ("已评价", "Evaluated"),
    CaseStatus.REOPENED: ("重办", "Reopened"),
    CaseStatus.ARCHIVED: ("已归档", "Archived"),
}

ACTION: dict[Action, Label] = {
    Action.SUBMIT: ("提出诉求", "Submit"),
    Action.ACCEPT: ("受理", "Accept"),
    Action.REJECT: ("不予受理", "Reject"),
    Action.MERGE: ("并单", "Merge"),
    Action.DISPATCH: ("派单", "Dispatch"),
    Action.SIGN: ("签收", "Sign for"),
    Action.RETURN: ("退单", "Return"),
    Action.UPHOLD_DISPATCH: ("维持派单", "Uphold dispatch"),
    Action.PROGRESS_NOTE: ("办理进展", "Progress note"),
    Action.CONTACT: ("联系诉求人", "Contact citizen"),
    Action.COORDINATE: ("协调", "Coordinate"),
    Action.REQUEST_EXTENSION: ("申请延期", "Request extension"),
    Action.APPROVE_EXTENSION: ("批准延期", "Approve extension"),
    Action.DENY_EXTENSION: ("驳回延期", "Deny extension"),
    Action.SUPERVISE: ("督办", "Supervise"),
    Action.ANSWER_DIRECTLY: ("直接答复", "Answer directly"),
    Action.SUBMIT_REPLY: ("提交办结", "Submit reply"),
    Action.APPROVE_REPLY: ("审核通过", "Approve reply"),
    Action.SEND_BACK: ("审核退回", "Send back"),
    Action.CALLBACK: ("回访", "Call back"),
    Action.CALLBACK_ATTEMPT: ("回访未接通", "Call-back attempt"),
    Action.EVALUATE: ("评价", "Evaluate"),
    Action.REOPEN: ("重办", "Reopen"),
    Action.ARCHIVE: ("归档", "Archive"),
    Action.NOTE: ("内部备注", "Internal note"),
    Action.UNMASK: ("查看个人信息", "Unmask personal data"),
    Action.LABEL_MALICIOUS: ("标记恶意诉求", "Label as malicious"),
    Action.CLEAR_MALICIOUS: ("撤销恶意标记", "Clear malicious label"),
}

ROLE: dict[Role, Label] = {
    Role.CITIZEN: ("群众", "Citizen"),
    Role.OPERATOR: ("话务员", "Operator"),
    Role.DISPATCHER: ("派单员", "Dispatcher"),
    Role.HANDLER: ("承办人", "Handler"),
    Role.UNIT_HEAD: ("单位负责人", "Unit head"),
    Role.SUPERVISOR: ("督办员", "Supervisor"),
    Role.ADMIN: ("系统管理员", "Administrator"),
    Role.AUDITOR: ("审计员", "Auditor"),
    Role.SYSTEM: ("系统", "System"),
}

REJECT_CLASS: dict[RejectClass, Label] = {
    RejectClass.EMERGENCY: ("紧急情况，请立即拨打110/119/120/122", "Emergency: call 110/119/120/122 now"),
    RejectClass.OTHER_CHANNEL: (
        "属于诉讼、仲裁、纪检监察、行政复议、政府信息公开或信访等渠道",
        "Belongs to courts, arbitration, discipline, review, disclosure or petitions",
    ),
    RejectClass.REPEAT_NO_NEW_FACTS: ("重复诉求且无新情况", "Repeat with no new facts"),
    RejectClass.SECRETS_OR_PRIVACY: ("涉及国家秘密、商业秘密或个人隐私", "Involves secrets or privacy"),
    RejectClass.OUTSIDE_DUTIES: ("不属于政府职责范围", "Outside government duties"),
    RejectClass.UNLAWFUL: ("违反法律法规或公序良俗", "Unlawful or against public order"),
}

RATING: dict[Rating, Label] = {
    Rating.VERY_SATISFIED: ("非常满意", "Very satisfied"),
    Rating.SATISFIED: ("满意", "Satisfied"),
    Rating.BASICALLY_SATISFIED: ("基本满意", "Basically satisfied"),
    Rating.DISSATISFIED: ("不满意", "Dissatisfied"),
    Rating.VERY_DISSATISFIED: ("非常不满意", "Very dissatisfied"),
}

SUPERVISE_LEVEL: dict[SuperviseLevel, Label] = {
    SuperviseLevel.REMINDER: ("催办", "Reminder"),
    SuperviseLevel.ORDER: ("督办单", "Supervision order"),
    SuperviseLevel.BULLETIN: ("通报", "Bulletin"),
}

FIELD: dict[str, Label] = {
    "text": ("诉求内容", "Appeal text"),
    "note": ("说明", "Note"),
    "category": ("类别", "Category"),
    "reject_class": ("不予受理类别", "Non-acceptance class"),
    "reason": ("理由", "Reason"),
    "parent": ("并入的诉求编号", "Parent case number"),
    "lead_unit": ("主办单位", "Lead unit"),
    "co_units": ("协办单位", "Co-units"),
    "co_unit": ("协办单位", "Co-unit"),
    "suggested_unit": ("建议承办单位", "Suggested unit"),
    "public": ("向群众公开", "Visible to citizen"),
    "reached": ("是否联系上", "Reached"),
    "days": ("延期工作日数", "Working days"),
    "level": ("督办级别", "Supervision level"),
    "reply": ("答复意见", "Reply"),
    "source": ("答复依据", "Source"),
    "solved": ("是否解决", "Solved"),
    "rating": ("满意度", "Rating"),
    "contacted": ("是否联系过诉求人", "Citizen contacted"),
    "comment": ("评价意见", "Comment"),
}

REFUSAL: dict[str, Label] = {
    "status": ("该诉求当前状态下不能执行此操作。", "This action is not possible in the case's current status."),
    "role": ("您的角色无权执行此操作。", "Your role may not take this action."),
    "scope": ("该诉求不属于您的单位。", "This case is not assigned to your unit."),
    "guard:no_pending_extension": ("已有待审批的延期申请。", "An extension request is already pending."),
    "guard:pending_extension": ("没有待审批的延期申请。", "There is no pending extension request."),
    "guard:within_return_window": ("已超过退单时限，不能退单。", "The return window has closed."),
    "guard:not_malicious": ("该诉求已被标记为恶意诉求。", "The case is already labelled malicious."),
    "guard:consultation": ("直接答复只用于咨询类诉求；投诉、求助等须派单办理。",
                           "Only a question is answered directly; complaints and requests are dispatched."),
    "guard:not_emergency": ("紧急诉求须立即派单处置，不能以知识库答案直接答复办结。",
                            "An emergency is dispatched at once, never closed with a knowledge answer."),
    "guard:malicious": ("该诉求没有恶意标记。", "The case has no malicious label."),
    "guard:not_confidential_for_units": (
        "保密件不向承办单位显示诉求人信息。",
        "A confidential case never shows the citizen's identity to the unit.",
    ),
    "conflict": (
        "其他人刚刚修改了该诉求，请刷新后重试。",
        "Someone else changed this case; reload and try again.",
    ),
    "missing": ("请填写：{fields}", "Please fill in: {fields}"),
    "invalid": ("{field}填写有误：{detail}", "{field} is not valid: {detail}"),
}

CHANNEL: dict[Channel, Label] = {
    Channel.WEBCHAT: ("网页", "Web chat"), Channel.TELEGRAM: ("Telegram", "Telegram"),
    Channel.WEBHOOK: ("接口", "Webhook"), Channel.OPEN311: ("Open311", "Open311"),
    Channel.PHONE: ("电话", "Phone"), Channel.BACKOFFICE: ("后台", "Back-office"),
}

_TABLES: dict[type, dict] = {
    Channel: CHANNEL,
    CaseStatus: STATUS,
    Action: ACTION,
    Role: ROLE,
    RejectClass: REJECT_CLASS,
    Rating: RATING,
    SuperviseLevel: SUPERVISE_LEVEL,
}


def label(value: StrEnum, language: str = "zh-CN") -> str:
    """Return the zh-CN (default) or English label of an enum member."""
    zh, en = _TABLES[type(value)][value]
    return en if language == "en" else zh


def action_label(name: str) -> Label | None:
    """Return the (zh-CN, English) label of the lifecycle action ``name`` names (a notice's template), or None."""
    return ACTION.get(Action(name)) if name in Action._value2member_map_ else None


def field_label(name: str, language: str = "zh-CN") -> str:
    """Return the label of a transition field."""
    zh, en = FIELD.get(name, (name, name))
    return en if language == "en" else zh


def refusal_text(key: str, language: str = "zh-CN", **params: str) -> str:
    """Return the polite explanation for a refused action."""
    zh, en = REFUSAL[key]
    return (en if language == "en" else zh).format(**params)
