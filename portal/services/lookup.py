"""Quick Pay lookup: account number + last name + date of birth, with lockout."""

from datetime import date, timedelta

from portal.domain.viewers import Viewer
from portal.services.context import Services
from portal.services.errors import LookupFailed, LookupLocked

FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)


def normalize_account_number(text: str) -> str:
    return "".join(ch for ch in (text or "") if ch not in " -\t")[:32]


def find_account(
    services: Services,
    account_number: str,
    last_name: str,
    date_of_birth: date | None,
    client_address: str,
) -> str:
    """The account number when the details match the guarantor or a patient on the account
    (see find_viewer)."""
    return find_viewer(services, account_number, last_name, date_of_birth, client_address)[0]


def find_viewer(
    services: Services,
    account_number: str,
    last_name: str,
    date_of_birth: date | None,
    client_address: str,
) -> tuple[str, Viewer]:
    """The account number, and whom the details are (the guarantor, or which patients), when
    they match the guarantor or a patient on the account.

    Raises LookupFailed for any mismatch (one generic answer whichever field was wrong)
    and LookupLocked after MAX_FAILURES for the account or the client address.
    """
    store, now = services.store, services.clock.now()
    number = normalize_account_number(account_number)
    keys = [f"address:{client_address}"] + ([f"account:{number}"] if number else [])
    locks = [until for key in keys if (until := store.lookup_locked_until(key, now))]
    if locks:
        raise LookupLocked(max(locks))
    # Count the attempt before checking it, so guesses sent in parallel cannot all slip in
    # under the limit; a success takes its attempt back.
    counts = {key: store.record_lookup_failure(key, now, now - FAILURE_WINDOW) for key in keys}
    over = [key for key, count in counts.items() if count > MAX_FAILURES]
    if over:
        for key in over:
            store.lock_lookups(key, now + LOCK_FOR)
        raise LookupLocked(now + LOCK_FOR)

    account = store.get_account(number) if number else None
    viewer = (
        account.viewer_for(last_name, date_of_birth)
        if account is not None and date_of_birth is not None
        else None
    )
    if account is not None and viewer is not None:
        store.forget_lookup_failure(keys[0], now)
        store.clear_lookup_failures(f"account:{number}")
        return account.account_number, viewer

    for key, count in counts.items():
        if count >= MAX_FAILURES:
            store.lock_lookups(key, now + LOCK_FOR)
    raise LookupFailed()
