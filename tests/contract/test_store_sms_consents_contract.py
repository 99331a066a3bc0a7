"""The SMS consent port on both stores."""

from datetime import UTC, datetime, timedelta

from portal.domain.texting import SmsConsent

AT = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def consent(account: str = "100234", phone: str = "+15555550123", **kw) -> SmsConsent:
    values = dict(account_number=account, phone=phone, given_at=AT, source="intake form")
    values.update(kw)
    return SmsConsent(**values)


def test_no_consent_until_one_is_saved(store):
    assert store.sms_consent("100234") is None
    assert store.sms_consents_for_phone("+15555550123") == []


def test_a_consent_is_kept_whole_and_replaced(store):
    first = consent(time_zone="America/Chicago")
    store.save_sms_consent(first)
    assert store.sms_consent("100234") == first
    stopped = first.stopped(AT + timedelta(hours=1, microseconds=5))
    store.save_sms_consent(stopped)
    assert store.sms_consent("100234") == stopped
    assert not store.sms_consent("100234").active
    again = stopped.started(AT + timedelta(days=1))
    store.save_sms_consent(again)
    assert store.sms_consent("100234") == again and again.active


def test_consents_are_found_by_phone_across_accounts(store):
    store.save_sms_consent(consent("100777"))
    store.save_sms_consent(consent("100234"))
    store.save_sms_consent(consent("100999", phone="+15555550999"))
    found = store.sms_consents_for_phone("+15555550123")
    assert [c.account_number for c in found] == ["100234", "100777"]
    # A number changed on an account is no longer found under the old one.
    store.save_sms_consent(consent("100777", phone="+15555550888"))
    assert [c.account_number for c in store.sms_consents_for_phone("+15555550123")] == ["100234"]
    assert [c.account_number for c in store.sms_consents_for_phone("+15555550888")] == ["100777"]


def test_the_consents_of_several_accounts_are_read_at_once(store):
    assert store.sms_consents([]) == {}
    numbers = [f"6{n:05d}" for n in range(130)]  # more than one DynamoDB batch
    for number in numbers[::2]:
        store.save_sms_consent(consent(number))
    found = store.sms_consents([*numbers, numbers[0], "999999"])
    assert sorted(found) == numbers[::2]
    assert found[numbers[0]] == consent(numbers[0])
