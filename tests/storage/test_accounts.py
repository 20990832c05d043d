"""Staff passwords are hashed, bounded, and the first admin gets a password shown once."""

from __future__ import annotations

import pytest

from storage.accounts import (
    MAX_PASSWORD,
    AccountError,
    create_staff,
    ensure_admin,
    hash_password,
    verify_password,
)
from storage.lifecycle import Role
from storage.models import Staff


def test_hash_and_verify() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$") and "correct" not in hashed
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "wrong horse battery")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password(hashed, "x" * (MAX_PASSWORD + 1))


def test_password_length_is_bounded_both_ways() -> None:
    with pytest.raises(AccountError):
        hash_password("short")
    with pytest.raises(AccountError):
        hash_password("x" * (MAX_PASSWORD + 1))


async def test_first_admin_gets_a_generated_password_once(database_url: str) -> None:
    first = await ensure_admin(None)
    assert first.created and first.generated_password
    admin = await Staff.get(username="admin")
    assert admin.roles == ["admin"] and verify_password(admin.password_hash, first.generated_password)
    again = await ensure_admin(None)
    assert not again.created and again.generated_password is None


async def test_first_admin_password_from_the_environment_is_not_echoed(database_url: str) -> None:
    result = await ensure_admin("from-the-environment")
    assert result.created and result.generated_password is None
    assert verify_password((await Staff.get(username="admin")).password_hash, "from-the-environment")


async def test_unit_staff_need_a_unit_and_citizen_is_not_a_staff_role(database_url: str) -> None:
    with pytest.raises(AccountError):
        await create_staff("h1", "long-password-1", [Role.HANDLER])
    with pytest.raises(AccountError):
        await create_staff("c1", "long-password-1", [Role.CITIZEN])
    with pytest.raises(AccountError):
        await create_staff("bad name", "long-password-1", [Role.OPERATOR])
    assert await Staff.all().count() == 0


async def test_a_username_differing_only_in_case_is_taken(database_url: str) -> None:
    from storage.accounts import AccountError, create_staff
    from storage.lifecycle import Role

    await create_staff("dispatcher", "a long enough password", [Role.DISPATCHER])
    with pytest.raises(AccountError) as taken:
        await create_staff("Dispatcher", "a long enough password", [Role.DISPATCHER])
    assert "用户名已存在" in str(taken.value)
