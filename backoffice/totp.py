"""TOTP second factor (RFC 6238: 30 s steps, 6 digits, HMAC-SHA-1, ±1 step), secrets at rest and recovery codes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import secrets
import struct
from urllib.parse import quote, urlencode

import segno
from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken
from tortoise.transactions import in_transaction

from storage.keys import secret_key
from storage.lifecycle import Role
from storage.models import AuditEntry, RecoveryCode, Staff
from storage.settings import Settings

STEP = 30
DIGITS = 6
WINDOW = 1
ISSUER = "群众诉求办理平台"
RECOVERY_CODES = 10
#: Where a session keeps the (encrypted) secret it is enrolling, until a first code confirms it.
ENROL_KEY = "totp_enrol"
#: Roles that must use a second factor: they can change accounts, policies and supervision.
REQUIRED_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})


class SecretUnavailable(RuntimeError):
    """A stored secret was encrypted with a key this process does not have."""


def hotp(secret: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """Return the RFC 4226 one-time password of ``counter`` (dynamic truncation of an HMAC)."""
    mac = hmac.new(secret, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    (number,) = struct.unpack(">I", mac[offset:offset + 4])
    return str((number & 0x7FFFFFFF) % 10**digits).zfill(digits)


def step_at(moment: float) -> int:
    """Return the 30-second time step of a Unix time."""
    return int(moment // STEP)


def totp(secret: bytes, moment: float, digits: int = DIGITS, digest: str = "sha1") -> str:
    """Return the RFC 6238 code of ``secret`` at Unix time ``moment``."""
    return hotp(secret, step_at(moment), digits, digest)


def match_step(secret: bytes, code: str, moment: float, last_step: int | None) -> int | None:
    """Return the step a code belongs to (within ±1 step of now, later than ``last_step``), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = step_at(moment)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue  # every code is usable once, and an older one never after a newer one
        if hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def no_store(response: web.Response) -> web.Response:
    """Keep a page showing a secret or recovery codes out of every cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def new_secret() -> str:
    """Return a fresh random secret as base32 (160 bits, as RFC 4226 recommends)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def secret_bytes(b32: str) -> bytes:
    """Decode a base32 secret, tolerating missing padding, spaces and lower case."""
    clean = b32.replace(" ", "").upper()
    return base64.b32decode(clean + "=" * (-len(clean) % 8))


def otpauth_uri(b32: str, account: str) -> str:
    """Return the otpauth:// URI an authenticator app reads from the QR code."""
    label = quote(f"{ISSUER}:{account}")
    query = urlencode({"secret": b32, "issuer": ISSUER, "algorithm": "SHA1", "digits": DIGITS, "period": STEP},
                      quote_via=quote)
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """Render a URI as an inline SVG QR code (server-side, no network, no script)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True, title="otpauth")
    return out.getvalue().decode()


def enrol_context(b32: str, account: str) -> dict[str, object]:
    """What totp_enrol.html shows of a new secret: the secret, its otpauth:// URI and that URI as a QR code."""
    uri = otpauth_uri(b32, account)
    return {"enrol": True, "secret": b32, "uri": uri, "qr": qr_svg(uri)}


def key_for(settings: Settings) -> str:
    """Return the key that encrypts secrets: APPEALS_SECRET_KEY, or the one generated into the data directory."""
    return secret_key(settings).decode()


def _fernet(key: str) -> Fernet:
    derived = hashlib.sha256(b"appeals-totp-secret:" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(b32: str, key: str | None) -> str:
    """Prepare a secret for the database: Fernet-encrypted with the key (see key_for), or marked plain without one."""
    if key:
        return "fernet:" + _fernet(key).encrypt(b32.encode()).decode()
    return "plain:" + b32


def unseal(stored: str, key: str | None) -> str:
    """Return the base32 secret of a stored value."""
    kind, _, value = stored.partition(":")
    if kind == "plain":
        return value
    if kind == "fernet" and key:
        try:
            return _fernet(key).decrypt(value.encode()).decode()
        except InvalidToken:
            pass
    raise SecretUnavailable("the second-factor secret cannot be decrypted with this APPEALS_SECRET_KEY")


def required_for(staff: Staff) -> bool:
    """Tell whether the account's roles require a second factor."""
    return bool(staff.role_set() & REQUIRED_ROLES)


def enrolled(staff: Staff) -> bool:
    """Tell whether the account has a confirmed second factor."""
    return staff.totp_secret is not None and staff.totp_confirmed_at is not None


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().replace("-", "").replace(" ", "").lower().encode()).hexdigest()


def new_recovery_codes() -> list[str]:
    """Return fresh recovery codes, easy to read out: xxxxx-xxxxx."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(7)).decode().lower()[:10]
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


async def _store_recovery_codes(staff: Staff, codes: list[str]) -> None:
    """Replace the account's stored recovery codes with (the hashes of) ``codes``; call inside a transaction."""
    await RecoveryCode.filter(staff_id=staff.id).delete()
    await RecoveryCode.bulk_create([RecoveryCode(staff_id=staff.id, code_hash=_hash_code(c)) for c in codes])


async def _use_step(staff: Staff, step: int) -> bool:
    """Record ``step`` as used, atomically: False when a concurrent request used it (or a later one) first."""
    query = Staff.filter(id=staff.id)
    if staff.totp_last_step is None:
        query = query.filter(totp_last_step__isnull=True)
    else:
        query = query.filter(totp_last_step=staff.totp_last_step)
    return await query.update(totp_last_step=step) == 1


async def confirm_enrolment(staff: Staff, sealed: str, code: str, key: str | None, moment: float) -> list[str] | None:
    """Confirm a session's new secret (``sealed``) with a first code: store it on the account, return recovery codes.

    The codes are shown once; None when the code is wrong or the account got a confirmed factor meanwhile."""
    if enrolled(staff):
        return None
    step = match_step(secret_bytes(unseal(sealed, key)), code, moment, None)
    if step is None:
        return None
    codes = new_recovery_codes()
    async with in_transaction():
        stored = await Staff.filter(id=staff.id, totp_confirmed_at__isnull=True).update(
            totp_secret=sealed, totp_confirmed_at=dt.datetime.now(dt.UTC), totp_last_step=step)
        if stored != 1:
            return None  # another session confirmed an enrolment first
        await _store_recovery_codes(staff, codes)
        await AuditEntry.create(staff_id=staff.id, action="totp_enrolled", target=staff.username,
                                data={"before": {"second_factor": False}, "after": {"second_factor": True}})
    return codes


async def verify(staff: Staff, code: str, key: str | None, moment: float) -> str | None:
    """Check a code of an enrolled account: return "totp" or "recovery" when accepted, None otherwise."""
    if not enrolled(staff):
        return None
    compact = code.strip().replace(" ", "")
    if compact.isdigit() and len(compact) == DIGITS:
        step = match_step(secret_bytes(unseal(staff.totp_secret or "", key)), compact, moment, staff.totp_last_step)
        if step is not None and await _use_step(staff, step):
            return "totp"
        return None
    used = await RecoveryCode.filter(staff_id=staff.id, code_hash=_hash_code(code), used_at__isnull=True).update(
        used_at=dt.datetime.now(dt.UTC))
    return "recovery" if used == 1 else None


async def replace_recovery_codes(staff: Staff) -> list[str]:
    """Replace an account's recovery codes with fresh ones (returned once, stored hashed), audited."""
    codes = new_recovery_codes()
    async with in_transaction():
        await _store_recovery_codes(staff, codes)
        await AuditEntry.create(staff_id=staff.id, action="recovery_codes_replaced", target=staff.username)
    return codes


async def remaining_recovery_codes(staff: Staff) -> int:
    """Count the account's unused recovery codes."""
    return await RecoveryCode.filter(staff_id=staff.id, used_at__isnull=True).count()


async def reset(staff: Staff, by: Staff | None, action: str = "totp_reset") -> None:
    """Remove an account's second factor and its recovery codes, audited with before and after."""
    before = {"second_factor": enrolled(staff)}
    async with in_transaction():
        await Staff.filter(id=staff.id).update(totp_secret=None, totp_confirmed_at=None, totp_last_step=None)
        await RecoveryCode.filter(staff_id=staff.id).delete()
        await AuditEntry.create(staff_id=by.id if by else staff.id, action=action, target=staff.username,
                                data={"before": before, "after": {"second_factor": False}})
