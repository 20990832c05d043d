"""Staff accounts: password hashing, creation and the first administrator."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .lifecycle import Role
from .models import AuditEntry, Staff, Unit

MIN_PASSWORD = 10
MAX_PASSWORD = 256  # bounded so a megabyte "password" cannot tie up the hasher
_hasher = PasswordHasher()
#: Hash of a random password, verified for unknown users so both paths take similar time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """An account cannot be created or changed as asked."""


def check_password_rules(password: str) -> None:
    """Refuse passwords that are too short or too long."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少需要{MIN_PASSWORD}个字符 / at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"密码不能超过{MAX_PASSWORD}个字符 / at most {MAX_PASSWORD} characters")


def hash_password(password: str) -> str:
    """Hash a password with Argon2id."""
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against a hash; an absent hash is checked against a dummy with equal cost."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """Return a strong random password that is easy to type."""
    return secrets.token_urlsafe(12)


async def staff_names(staff_ids: Iterable[int | None]) -> dict[int, str]:
    """Return the display names of just these accounts (not of every account), by id."""
    ids = {i for i in staff_ids if i is not None}
    return dict(await Staff.filter(id__in=ids).values_list("id", "display_name")) if ids else {}


async def create_staff(
    username: str,
    password: str,
    roles: Iterable[Role],
    display_name: str = "",
    unit_code: str | None = None,
) -> Staff:
    """Create a staff account with roles (handlers and unit heads need a unit)."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise AccountError("用户名不能为空或包含空格 / username must be non-empty without spaces")
    role_list = sorted({Role(r) for r in roles})
    if not role_list or Role.CITIZEN in role_list or Role.SYSTEM in role_list:
        raise AccountError("请至少选择一个工作人员角色 / choose at least one staff role")
    unit = None
    if unit_code:
        unit = await Unit.get_or_none(code=unit_code)
        if unit is None:
            raise AccountError(f"单位不存在 / no such unit: {unit_code}")
    if {Role.HANDLER, Role.UNIT_HEAD} & set(role_list) and unit is None:
        raise AccountError("承办人和单位负责人必须属于一个单位 / handlers and unit heads need a unit")
    if await Staff.exists(username__iexact=username):  # "Dispatcher" beside "dispatcher" would confuse everyone
        raise AccountError(f"用户名已存在（不区分大小写） / username taken (case aside): {username}")
    staff = await Staff.create(
        username=username, display_name=display_name or username, password_hash=hash_password(password),
        roles=[r.value for r in role_list], unit=unit,
    )
    await AuditEntry.create(staff=staff, action="staff_created", target=username, data={"roles": staff.roles})
    return staff


@dataclass(frozen=True)
class FirstAdmin:
    """The first administrator, and its password when this call generated it."""

    username: str
    created: bool
    generated_password: str | None


async def ensure_admin(password: str | None, username: str = "admin") -> FirstAdmin:
    """Create the first administrator if no admin exists; generate a password if none is given."""
    admins = [s for s in await Staff.filter(active=True) if Role.ADMIN.value in s.roles]
    if admins:
        return FirstAdmin(admins[0].username, created=False, generated_password=None)
    generated = None if password else generate_password()
    await create_staff(username, password or generated or "", [Role.ADMIN], display_name="系统管理员")
    return FirstAdmin(username, created=True, generated_password=generated)
