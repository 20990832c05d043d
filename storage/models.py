"""Tortoise models: units, staff, citizens, cases and their timeline, outbox, dialogs, policies."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from .lifecycle import Action, CaseStatus, Rating, Role


class UnitKind(StrEnum):
    """Level of a unit in the city's hierarchy."""

    CITY = "city"
    BUREAU = "bureau"
    COMPANY = "company"
    DISTRICT = "district"
    STREET = "street"


class Channel(StrEnum):
    """Where an appeal came from and where its notifications go."""

    WEBCHAT = "webchat"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"
    OPEN311 = "open311"
    PHONE = "phone"
    BACKOFFICE = "backoffice"


class Urgency(StrEnum):
    """How fast a case must move."""

    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class CaseKind(StrEnum):
    """What the citizen asks for - drives the default time limit."""

    COMPLAINT = "complaint"
    REPORT = "report"
    REQUEST = "request"
    SUGGESTION = "suggestion"
    CONSULTATION = "consultation"
    PRAISE = "praise"


class NotificationStatus(StrEnum):
    """Delivery state of an outbox row."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # retried with backoff
    DEAD = "dead"  # gave up after the last attempt


class Unit(Model):
    """A government body or company in the hierarchy city → district or bureau → street."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    name_zh = fields.CharField(max_length=128)
    name_en = fields.CharField(max_length=128, default="")
    kind = fields.CharEnumField(UnitKind, max_length=16)
    parent: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "appeals.Unit", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    matters = fields.JSONField(default=list)  # categories and matters the unit owns
    areas = fields.JSONField(default=list)  # districts, streets or places it covers
    phone = fields.CharField(max_length=32, default="")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "unit"


class Staff(Model):
    """A staff account: platform staff have no unit, handlers and unit heads belong to one."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=64)
    password_hash = fields.CharField(max_length=256)
    roles = fields.JSONField(default=list)  # list of Role values
    unit: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "appeals.Unit", related_name="staff", null=True, on_delete=fields.RESTRICT
    )
    # db_default: rows written before this column existed get it too (see migration 0002).
    language = fields.CharField(max_length=8, default="zh-CN", db_default="zh-CN")
    active = fields.BooleanField(default=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)
    # The newest back-office notification id this person has read (None: not yet worked out; see backoffice.inbox).
    notifications_read_to = fields.IntField(null=True)
    # TOTP second factor: the secret (Fernet-encrypted with the secret key), set at enrolment,
    # active once confirmed with a first code. totp_last_step makes every code usable once.
    totp_secret = fields.CharField(max_length=256, null=True)
    totp_confirmed_at = fields.DatetimeField(null=True)
    totp_last_step = fields.BigIntField(null=True)

    class Meta:
        table = "staff"

    def role_set(self) -> frozenset[Role]:
        """Return the staff member's roles as enum members."""
        return frozenset(Role(r) for r in self.roles if r in Role._value2member_map_)


class Citizen(Model):
    """A person who raises appeals - every personal field is optional."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, null=True)
    phone = fields.CharField(max_length=32, null=True)
    id_number = fields.CharField(max_length=32, null=True)
    language = fields.CharField(max_length=8, default="zh-CN")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "citizen"


class ChannelIdentity(Model):
    """How a citizen is known on one channel (a Telegram chat id, a web-chat cookie id …)."""

    id = fields.IntField(primary_key=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "appeals.Citizen", related_name="identities", on_delete=fields.CASCADE
    )
    channel = fields.CharEnumField(Channel, max_length=16)
    external_id = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "channel_identity"
        unique_together = (("channel", "external_id"),)


class Policy(Model):
    """A versioned time-limit rule, matched by category, kind and urgency (most specific wins)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64)
    category = fields.CharField(max_length=32, null=True)
    kind = fields.CharEnumField(CaseKind, max_length=16, null=True)
    urgency = fields.CharEnumField(Urgency, max_length=16, null=True)
    accept_hours = fields.IntField(default=2)
    sign_hours = fields.IntField(default=2)
    handle_amount = fields.IntField()
    handle_unit = fields.CharField(max_length=16)  # hours | days | working_days
    return_working_days = fields.IntField(default=2)
    callback_working_days = fields.IntField(default=2)
    extension_max_working_days = fields.IntField(default=10)
    reopen_working_days = fields.IntField(default=5)
    version = fields.IntField(default=1)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "policy"


class Case(Model):
    """One citizen appeal (诉求件)."""

    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=32, unique=True)
    tracking_code = fields.CharField(max_length=32, unique=True)
    title = fields.CharField(max_length=200, default="")
    text = fields.TextField()
    category = fields.CharField(max_length=32, null=True)
    kind = fields.CharEnumField(CaseKind, max_length=16, default=CaseKind.COMPLAINT)
    urgency = fields.CharEnumField(Urgency, max_length=16, default=Urgency.NORMAL)
    status = fields.CharEnumField(CaseStatus, max_length=16, default=CaseStatus.SUBMITTED)
    address = fields.CharField(max_length=255, default="")
    district = fields.CharField(max_length=64, null=True)
    street = fields.CharField(max_length=64, null=True)
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    channel = fields.CharEnumField(Channel, max_length=16)
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "appeals.Citizen", related_name="cases", null=True, on_delete=fields.SET_NULL
    )
    anonymous = fields.BooleanField(default=False)
    confidential = fields.BooleanField(default=False)
    malicious = fields.BooleanField(default=False)
    lead_unit: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "appeals.Unit", related_name="lead_cases", null=True, on_delete=fields.RESTRICT
    )
    parent: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "appeals.Case", related_name="children", null=True, on_delete=fields.SET_NULL
    )
    suggestion = fields.JSONField(default=dict)  # what the NLP layer proposed, kept beside the decision
    policy: fields.ForeignKeyNullableRelation[Policy] = fields.ForeignKeyField(
        "appeals.Policy", related_name="cases", null=True, on_delete=fields.SET_NULL
    )
    accept_due_at = fields.DatetimeField(null=True)
    dispatched_at = fields.DatetimeField(null=True)
    sign_due_at = fields.DatetimeField(null=True)
    return_due_at = fields.DatetimeField(null=True)
    due_at = fields.DatetimeField(null=True)
    extension_pending_days = fields.IntField(null=True)
    extended_days = fields.IntField(default=0)
    resolved_at = fields.DatetimeField(null=True)
    callback_due_at = fields.DatetimeField(null=True)
    reply = fields.TextField(default="")
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "appeal_case"
        indexes = (("status", "due_at"), ("lead_unit_id", "status"), ("citizen_id", "created_at"), ("status", "id"))


class CaseAssignment(Model):
    """A unit's part in a case (lead or co-unit) - ended rows keep history but grant no access."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "appeals.Case", related_name="assignments", on_delete=fields.CASCADE
    )
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "appeals.Unit", related_name="assignments", on_delete=fields.RESTRICT
    )
    lead = fields.BooleanField(default=False)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "case_assignment"
        indexes = (("unit_id", "active"), ("unit_id", "active", "case_id"), ("case_id", "active"))


class CaseEvent(Model):
    """An append-only entry on a case's timeline - the timeline is the audit log."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "appeals.Case", related_name="events", on_delete=fields.CASCADE
    )
    action = fields.CharEnumField(Action, max_length=24)
    from_status = fields.CharEnumField(CaseStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(CaseStatus, max_length=16)
    actor_role = fields.CharEnumField(Role, max_length=16)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="events", null=True, on_delete=fields.RESTRICT
    )
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "appeals.Citizen", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    data = fields.JSONField(default=dict)
    version = fields.IntField()  # the case version this event produced
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "case_event"
        ordering = ["id"]


class Attachment(Model):
    """A file attached to a case (photo, document) - served as a download with nosniff."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "appeals.Case", related_name="attachments", null=True, on_delete=fields.CASCADE
    )
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=64)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    path = fields.CharField(max_length=255)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "attachment"


class Evaluation(Model):
    """A satisfaction rating, from the citizen or recorded at a call-back."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "appeals.Case", related_name="evaluations", on_delete=fields.CASCADE
    )
    unit: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "appeals.Unit", related_name="evaluations", null=True, on_delete=fields.SET_NULL
    )
    source = fields.CharField(max_length=16)  # citizen | callback
    rating = fields.CharEnumField(Rating, max_length=24)
    contacted = fields.BooleanField(null=True)
    solved = fields.BooleanField(null=True)
    comment = fields.TextField(default="")
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="evaluations", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "evaluation"


class Notification(Model):
    """An outbox row: written in the same transaction as its event, sent after commit."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "appeals.Case", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    event: fields.ForeignKeyNullableRelation[CaseEvent] = fields.ForeignKeyField(
        "appeals.CaseEvent", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    audience = fields.CharField(max_length=16)
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "appeals.Citizen", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    unit: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "appeals.Unit", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16, null=True)
    channel = fields.CharEnumField(Channel, max_length=16)
    address = fields.CharField(max_length=128, default="")
    template = fields.CharField(max_length=48)
    params = fields.JSONField(default=dict)
    status = fields.CharEnumField(NotificationStatus, max_length=8, default=NotificationStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    claimed_by = fields.CharField(max_length=64, null=True)
    claimed_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        indexes = (("status", "next_attempt_at"),)


class DialogSession(Model):
    """A citizen's conversation state on one channel, saved at every step."""

    id = fields.IntField(primary_key=True)
    channel = fields.CharEnumField(Channel, max_length=16)
    user_key = fields.CharField(max_length=128)
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "appeals.Citizen", related_name="dialogs", null=True, on_delete=fields.SET_NULL
    )
    flow = fields.CharField(max_length=32, default="menu")
    step = fields.CharField(max_length=32, default="start")
    slots = fields.JSONField(default=dict)
    language = fields.CharField(max_length=8, default="zh-CN")
    last_inbound_key = fields.CharField(max_length=128, null=True)  # dedupe of redelivered messages
    locked_by = fields.CharField(max_length=64, null=True)
    locked_until = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "dialog_session"
        unique_together = (("channel", "user_key"),)


class CaseCounter(Model):
    """The last serial number handed out per hotline and day, for readable case numbers."""

    id = fields.IntField(primary_key=True)
    day = fields.CharField(max_length=16, unique=True)  # "8890-20261126"
    serial = fields.IntField(default=0)

    class Meta:
        table = "case_counter"


class AuditEntry(Model):
    """Staff actions that are not on one case's timeline: logins, exports, account changes."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="audit", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=32)
    target = fields.CharField(max_length=128, default="")
    reason = fields.TextField(default="")
    data = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_entry"


class CatalogueEntry(Model):
    """A dispatch-catalogue rule: this category (in this district, if set) goes to this unit."""

    id = fields.IntField(primary_key=True)
    category = fields.CharField(max_length=32)
    district = fields.CharField(max_length=64, null=True)  # None: city-wide
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "appeals.Unit", related_name="catalogue", on_delete=fields.CASCADE
    )
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "catalogue_entry"
        unique_together = (("category", "district", "unit"),)


class JobRun(Model):
    """A scheduler job done once for a key (a case, a unit and day …): the unique row is the claim."""

    id = fields.IntField(primary_key=True)
    job = fields.CharField(max_length=32)
    key = fields.CharField(max_length=96)
    data = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "job_run"
        unique_together = (("job", "key"),)


class StaffSession(Model):
    """A back-office login: the cookie holds a random token, the table only its SHA-256."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="sessions", on_delete=fields.CASCADE
    )
    csrf_token = fields.CharField(max_length=64)
    data = fields.JSONField(default=dict)  # short-lived per-session state, e.g. unmasked cases
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "staff_session"


class LoginThrottle(Model):
    """Failed logins per username or address, whether or not the account exists."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=160, unique=True)
    failures = fields.IntField(default=0)
    window_start = fields.DatetimeField(null=True)
    locked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "login_throttle"


class CatalogueChange(Model):
    """A versioned change to the dispatch catalogue: who changed what, and when."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="catalogue_changes", null=True, on_delete=fields.SET_NULL
    )
    change = fields.CharField(max_length=16)  # added | removed
    category = fields.CharField(max_length=32)
    district = fields.CharField(max_length=64, null=True)
    unit_code = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "catalogue_change"


class KnowledgeStatus(StrEnum):
    """Whether a knowledge article is served: only published articles within their dates are."""

    DRAFT = "draft"  # never published yet
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class RevisionStatus(StrEnum):
    """Where one version of a knowledge article stands: edited, reviewed, live or replaced."""

    DRAFT = "draft"
    REVIEW = "review"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


class KnowledgeArticle(Model):
    """A knowledge-base answer owned by one unit - the live fields copy its published revision."""

    id = fields.IntField(primary_key=True)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "appeals.Unit", related_name="knowledge", on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(KnowledgeStatus, max_length=16, default=KnowledgeStatus.DRAFT)
    category = fields.CharField(max_length=32, default="")
    questions = fields.JSONField(default=list)  # question variants, the first is the title
    answer = fields.TextField(default="")
    source = fields.CharField(max_length=255, default="")  # legal basis or official guide
    valid_from = fields.DateField(null=True)
    valid_to = fields.DateField(null=True)  # last day it may be served
    version = fields.IntField(default=0)  # number of the published revision, 0 before the first
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "knowledge_article"
        indexes = (("status", "valid_to"),)


class KnowledgeRevision(Model):
    """One version of an article: written by unit staff, reviewed by the unit head, then published."""

    id = fields.IntField(primary_key=True)
    article: fields.ForeignKeyRelation[KnowledgeArticle] = fields.ForeignKeyField(
        "appeals.KnowledgeArticle", related_name="revisions", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    status = fields.CharEnumField(RevisionStatus, max_length=16, default=RevisionStatus.DRAFT)
    category = fields.CharField(max_length=32, default="")
    questions = fields.JSONField(default=list)
    answer = fields.TextField()
    source = fields.CharField(max_length=255, default="")
    valid_from = fields.DateField(null=True)
    valid_to = fields.DateField(null=True)
    author: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="knowledge_written", null=True, on_delete=fields.SET_NULL
    )
    reviewer: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="knowledge_reviewed", null=True, on_delete=fields.SET_NULL
    )
    review_note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    reviewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "knowledge_revision"
        unique_together = (("article", "number"),)
        ordering = ["article_id", "number"]


class ApiKey(Model):
    """An API key of an Open311 client application, kept only as its SHA-256 hash."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class WebhookPeer(Model):
    """A messenger bridge (an SMS gateway, a WeChat or DingTalk bridge): HMAC secret, replay window, callback."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    secret = fields.CharField(max_length=128)
    callback_url = fields.CharField(max_length=512, default="")
    replay_window = fields.IntField(default=300)  # seconds a signed request stays acceptable
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_peer"


class CaseFollower(Model):
    """A citizen who chose to follow a similar open case (并单) instead of submitting the same matter again."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "appeals.Case", related_name="followers", on_delete=fields.CASCADE
    )
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "appeals.Citizen", related_name="following", on_delete=fields.CASCADE
    )
    channel = fields.CharEnumField(Channel, max_length=16)  # told of the outcome there
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "case_follower"
        unique_together = (("case", "citizen"),)


class RiskAck(Model):
    """A supervisor's acknowledgement of one risk warning, found again by the warning's fingerprint."""

    id = fields.IntField(primary_key=True)
    fingerprint = fields.CharField(max_length=64, unique=True)
    kind = fields.CharField(max_length=16)
    key = fields.CharField(max_length=128)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="risk_acks", on_delete=fields.RESTRICT
    )
    note = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "risk_ack"


class RecoveryCode(Model):
    """A one-time recovery code of a staff member's second factor, kept only as its SHA-256 hash."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="recovery_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64)
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "recovery_code"


class HolidayOverride(Model):
    """A local correction of the calendar: this date is a holiday, or a working day, whatever chinesecalendar says."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField(unique=True)
    kind = fields.CharField(max_length=16)  # holiday | workday
    note = fields.CharField(max_length=128, default="")
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="holiday_overrides", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "holiday_override"


class KpiWeightSet(Model):
    """One version of the KPI weights edited by an admin - the newest row is current, none: kpi_weights.json."""

    id = fields.IntField(primary_key=True)
    version = fields.CharField(max_length=64, unique=True)
    note = fields.TextField(default="")
    weights = fields.JSONField(default=dict)  # KPI key -> weight, summing to 1
    basic_satisfied_k = fields.FloatField(default=0.9)
    volume_floor = fields.IntField(default=10)
    repeat_window_days = fields.IntField(default=30)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "appeals.Staff", related_name="kpi_weight_sets", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "kpi_weight_set"
