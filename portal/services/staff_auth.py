"""Staff sign-in: password, then a TOTP code; lockout after repeated failures."""

import functools
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import pyotp

from portal.domain.errors import InvalidInput
from portal.domain.staff import (
    AuditAction,
    Role,
    StaffUser,
    check_password,
    check_username,
    normalize_username,
)
from portal.ports.passwords import PasswordHasher
from portal.services.audit import audit
from portal.services.context import Services

ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_ATTEMPTS = 5  # per username (known or not), in ATTEMPT_WINDOW
# Per client address, in ATTEMPT_WINDOW, whatever usernames it tries: one address cannot spray
# passwords over many usernames. Higher than MAX_ATTEMPTS because a practice's desks often
# share one address, so one user's lockout must not lock out every colleague.
MAX_ADDRESS_ATTEMPTS = 10
LOCK_FOR = timedelta(minutes=15)


class SignInFailed(Exception):
    """Wrong username, password or code: deliberately the same for each."""


class SignInLocked(Exception):
    pass


@dataclass(frozen=True)
class StaffSetup:
    user: StaffUser
    provisioning_uri: str  # otpauth:// URI for an authenticator app


@functools.cache
def _dummy_hash(passwords: PasswordHasher) -> str:
    """Checked against when the user does not exist, so both cases take as long."""
    return passwords.hash("not a real password")


def _totp(user: StaffUser) -> pyotp.TOTP:
    return pyotp.TOTP(user.totp_secret)


def add_staff_user(services: Services, username: str, role: str, password: str) -> StaffSetup:
    username = normalize_username(username)
    check_username(username)
    check_password(password)
    try:
        chosen = Role(role)
    except ValueError:
        raise InvalidInput("role", "The role is associate, supervisor or admin.") from None
    user = StaffUser(
        username=username,
        role=chosen,
        password_hash=services.passwords.hash(password),
        totp_secret=pyotp.random_base32(),
        created_at=services.clock.now(),
    )
    if not services.store.create_staff_user(user):
        raise InvalidInput("username", f"There is already a staff user {username!r}.")
    uri = _totp(user).provisioning_uri(name=username, issuer_name=services.settings.practice_name)
    return StaffSetup(user=user, provisioning_uri=uri)


def current_code(user: StaffUser, services: Services) -> str:
    """The code an authenticator app shows now (for the local demo only)."""
    return _totp(user).at(services.clock.now())


def check_password_step(services: Services, username: str, password: str, address: str) -> str:
    """First step: the password. Returns the normalized username on success."""
    username = normalize_username(username)
    attempts = _claim_attempt(services, username, address, per_address=True)
    user = services.store.get_staff_user(username)
    # An unknown username is checked against a dummy hash: it takes as long as a known one.
    stored = user.password_hash if user else _dummy_hash(services.passwords)
    matches = services.passwords.matches(stored, password)
    if user is None or not matches:
        _failed(services, username, address, "password", attempts)
    _forget_attempt(services, username, address)
    return username


def check_code_step(services: Services, username: str, code: str, address: str) -> StaffUser:
    """Second step: a TOTP code, each accepted once (no replay within its 30 s window)."""
    attempts = _claim_attempt(services, username, address, per_address=True)
    user = services.store.get_staff_user(username)
    if user is None:
        _failed(services, username, address, "code", attempts)
    step = _matching_step(user, "".join(code.split()), services)
    if step is None or not services.store.use_totp_step(username, step):
        _failed(services, username, address, "code", attempts)
    services.store.clear_lookup_failures(_key(username))
    # Only this attempt is taken back for the address: signing in to one's own account
    # must not wipe the failures the address had on other usernames.
    services.store.forget_lookup_failure(_address_key(address), services.clock.now())
    audit(services, username, AuditAction.SIGN_IN, address=address)
    return user


def change_password(
    services: Services, username: str, current: str, new: str, address: str
) -> StaffUser:
    """Replace the password; every other session of this user ends. A wrong current
    password counts toward the lockout, like a wrong one at sign-in."""
    attempts = _claim_attempt(services, username, address)
    user = services.store.get_staff_user(username)
    if user is None or not services.passwords.matches(user.password_hash, current):
        try:
            _failed(services, username, address, "password change", attempts)
        except SignInFailed:
            raise InvalidInput("current_password", "The current password is not right.") from None
    services.store.forget_lookup_failure(_key(username), services.clock.now())
    try:
        check_password(new)
    except InvalidInput as exc:
        raise InvalidInput("new_password", exc.message) from None
    if new == current:
        raise InvalidInput("new_password", "Choose a password different from the current one.")
    updated = services.store.set_staff_password(username, services.passwords.hash(new))
    audit(services, username, AuditAction.CHANGE_PASSWORD, address=address)
    return updated


def sign_out(services: Services, username: str, address: str) -> None:
    """End every session of the user: a copy of the cookie stops working too."""
    services.store.end_staff_sessions(username)
    audit(services, username, AuditAction.SIGN_OUT, address=address)


def _matching_step(user: StaffUser, code: str, services: Services) -> int | None:
    """The time step whose code matches, allowing one step of clock drift either way."""
    totp = _totp(user)
    now_step = totp.timecode(services.clock.now())
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _key(username: str) -> str:
    return f"staff:{username}"


def _address_key(address: str) -> str:
    return f"staff-address:{address}"


def _claim_attempt(
    services: Services, username: str, address: str, per_address: bool = False
) -> dict[str, int]:
    """Count the attempt before checking it, so attempts sent in parallel cannot all slip
    in under the limit. A username or (when `per_address`) an address that is locked is
    refused before anything is checked (no password hash is computed for it). Returns how
    many attempts each key's window now holds."""
    now = services.clock.now()
    limits = {_key(username): MAX_ATTEMPTS}
    if per_address:
        limits[_address_key(address)] = MAX_ADDRESS_ATTEMPTS
    store = services.store
    refused = any(store.lookup_locked_until(key, now) is not None for key in limits)
    attempts: dict[str, int] = {}
    if not refused:
        for key, limit in limits.items():
            attempts[key] = store.record_lookup_failure(key, now, now - ATTEMPT_WINDOW)
            if attempts[key] > limit:
                store.lock_lookups(key, now + LOCK_FOR)
                refused = True
    if refused:
        audit(services, username, AuditAction.SIGN_IN_FAILED, subject="locked", address=address)
        raise SignInLocked()
    return attempts


def _forget_attempt(services: Services, username: str, address: str) -> None:
    """The attempt succeeded: take it back for the username and the address."""
    now = services.clock.now()
    services.store.forget_lookup_failure(_key(username), now)
    services.store.forget_lookup_failure(_address_key(address), now)


def _failed(
    services: Services, username: str, address: str, step: str, attempts: dict[str, int]
) -> NoReturn:
    """A wrong answer: lock each key that has now used up its attempts."""
    limits = {_key(username): MAX_ATTEMPTS, _address_key(address): MAX_ADDRESS_ATTEMPTS}
    until = services.clock.now() + LOCK_FOR
    for key, count in attempts.items():
        if count >= limits[key]:
            services.store.lock_lookups(key, until)
    audit(services, username, AuditAction.SIGN_IN_FAILED, subject=step, address=address)
    raise SignInFailed()
