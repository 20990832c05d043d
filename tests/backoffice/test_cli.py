"""The ``appeals`` console script: migrate, create staff, seed the demo city, and polite errors."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from backoffice.cli import main
from storage import db
from storage.accounts import verify_password
from storage.lifecycle import CaseStatus
from storage.models import AuditEntry, Case, CaseEvent, CatalogueEntry, Staff, Unit
from tests.conftest import PG_URL


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_template: str) -> Iterator[str]:
    """Point the CLI at a fresh SQLite file (or the test PostgreSQL database, emptied)."""
    if PG_URL:
        url = database_template

        async def empty() -> None:
            from tests.conftest import _truncate_all

            await db.init(url)
            await _truncate_all()
            await db.close()

        asyncio.run(empty())
    else:
        url = f"sqlite://{tmp_path / 'cli.db'}"
    monkeypatch.setenv("APPEALS_DATABASE_URL", url)
    monkeypatch.setenv("APPEALS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("APPEALS_ADMIN_PASSWORD", raising=False)
    yield url


def query(url: str, fn):  # noqa: ANN001, ANN201 - small helper to read the database after a command
    async def run():  # noqa: ANN202
        await db.init(url)
        try:
            return await fn()
        finally:
            await db.close()

    return asyncio.run(run())


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "serve", "migrate", "create-staff", "seed-demo"):
        assert command in out
    assert "演示城市" in out and "demo city" in out


@pytest.mark.parametrize(("value", "words"), [("0", "between 1 and 64"), ("many", "number or auto")])
def test_a_bad_worker_count_is_refused_in_both_languages(
        value: str, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--workers", value])  # refused before anything starts
    err = capsys.readouterr().err
    assert done.value.code == 2 and words in err and "须为 1-64 的数字或 auto" in err


def test_bad_setting_is_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APPEALS_PORT", "eighty")
    assert main(["migrate"]) == 2
    assert "APPEALS_PORT" in capsys.readouterr().err


def test_create_staff_with_a_password_from_stdin(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-password\n"))
    assert main(["create-staff", "wang", "--role", "dispatcher", "--role", "supervisor", "--name", "王五",
                 "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "wang" in out and "a-long-enough-password" not in out
    staff = query(cli_env, lambda: Staff.get(username="wang"))
    assert staff.roles == ["dispatcher", "supervisor"] and staff.display_name == "王五"
    assert verify_password(staff.password_hash, "a-long-enough-password")
    assert query(cli_env, lambda: AuditEntry.filter(action="staff_created", target="wang").count()) == 1


def test_create_staff_generates_a_password_and_refuses_bad_requests(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    assert main(["create-staff", "li", "--role", "operator"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1].split(": ")[-1]
    assert verify_password(query(cli_env, lambda: Staff.get(username="li")).password_hash, printed)
    assert main(["create-staff", "li", "--role", "operator"]) == 2
    assert "已存在" in capsys.readouterr().err
    assert main(["create-staff", "zhao", "--role", "handler"]) == 2
    assert "单位" in capsys.readouterr().err


def test_seed_demo_creates_a_city_with_cases_in_every_status(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed-demo", "--cases", "60"]) == 0
    out = capsys.readouterr().out
    assert "dispatcher" in out and "handler-" in out and "unit-head" in out
    password = out.strip().splitlines()[-1].split(": ")[-1]
    roles = query(cli_env, lambda: Staff.all().values_list("roles", flat=True))
    assert {r for rs in roles for r in rs} == {"admin", "operator", "dispatcher", "handler", "unit_head",
                                                "supervisor", "auditor"}
    admin = query(cli_env, lambda: Staff.get(username="admin"))
    assert verify_password(admin.password_hash, password)

    async def facts():  # noqa: ANN202
        statuses = set(await Case.all().values_list("status", flat=True))
        return (
            await Unit.all().count(), await CatalogueEntry.all().count(), statuses,
            await CaseEvent.all().count(), set(await Unit.all().values_list("kind", flat=True)),
        )

    units, catalogue, statuses, events, kinds = query(cli_env, facts)
    assert units >= 20 and catalogue >= 7 and events > 60
    assert kinds == {"city", "bureau", "company", "district", "street"}
    assert statuses == set(CaseStatus)
    assert main(["seed-demo"]) == 2  # a second run refuses instead of duplicating the city
    assert "已有" in capsys.readouterr().err


def test_set_password_replaces_it_and_ends_every_session(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime as dt

    from storage.models import StaffSession

    assert main(["migrate"]) == 0
    assert main(["create-staff", "zhou", "--role", "supervisor"]) == 0
    old = capsys.readouterr().out.strip().splitlines()[-1].split(": ")[-1]

    async def sign_in() -> None:
        staff = await Staff.get(username="zhou")
        await StaffSession.create(token_hash="a" * 64, staff=staff, csrf_token="c",
                                  expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=8))

    query(cli_env, sign_in)
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
    assert main(["set-password", "zhou", "--password-stdin"]) == 0
    assert "a brand new passphrase" not in capsys.readouterr().out
    staff = query(cli_env, lambda: Staff.get(username="zhou"))
    assert verify_password(staff.password_hash, "a brand new passphrase")
    assert not verify_password(staff.password_hash, old)
    assert query(cli_env, lambda: StaffSession.filter(staff_id=staff.id).count()) == 0
    assert main(["set-password", "nobody"]) == 2


def test_reset_2fa_removes_the_second_factor_and_ends_sessions(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime as dt

    from storage.models import AuditEntry, StaffSession

    assert main(["migrate"]) == 0
    assert main(["create-staff", "boss", "--role", "admin"]) == 0

    async def enrolled_and_signed_in() -> None:
        staff = await Staff.get(username="boss")
        await Staff.filter(id=staff.id).update(totp_secret="plain:JBSWY3DPEHPK3PXP",
                                               totp_confirmed_at=dt.datetime.now(dt.UTC))
        await StaffSession.create(token_hash="b" * 64, staff=staff, csrf_token="c",
                                  expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=8))

    query(cli_env, enrolled_and_signed_in)
    capsys.readouterr()
    assert main(["reset-2fa", "boss"]) == 0
    assert "boss" in capsys.readouterr().out
    staff = query(cli_env, lambda: Staff.get(username="boss"))
    assert staff.totp_secret is None and staff.totp_confirmed_at is None
    assert query(cli_env, lambda: StaffSession.filter(staff_id=staff.id).count()) == 0
    assert query(cli_env, lambda: AuditEntry.filter(action="totp_reset_cli", target="boss").count()) == 1
    assert main(["reset-2fa", "nobody"]) == 2


def test_api_keys_and_webhook_peers_are_printed_once_and_refused_twice(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    from storage.models import ApiKey, WebhookPeer

    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["create-api-key", "city-app"]) == 0
    key = capsys.readouterr().out.strip()
    stored = query(cli_env, lambda: ApiKey.get(name="city-app"))
    assert len(key) >= 20 and stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert main(["create-api-key", "city-app"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["create-webhook-peer", "sms", "--callback", "https://sms.example/notify"]) == 0
    assert capsys.readouterr().out.strip()
    assert query(cli_env, lambda: WebhookPeer.filter(name="sms").count()) == 1
    assert main(["create-webhook-peer", "bad", "--callback", "ftp://x"]) == 2
    assert "http(s)" in capsys.readouterr().err
