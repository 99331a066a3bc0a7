"""API keys in every Store: created once per name, found by hash, listed, revoked once."""

from datetime import UTC, datetime, timedelta

from portal.domain.api_keys import ApiKey, hash_key

AT = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def key(name: str, secret: str) -> ApiKey:
    return ApiKey(name=name, key_hash=hash_key(secret), last_four=secret[-4:], created_at=AT)


def test_a_key_is_found_by_its_hash(store):
    assert store.create_api_key(key("clearinghouse", "pbp_secret-one"))

    found = store.api_key_by_hash(hash_key("pbp_secret-one"))

    assert found == key("clearinghouse", "pbp_secret-one")
    assert found.is_active
    assert store.api_key_by_hash(hash_key("pbp_other")) is None


def test_names_are_unique(store):
    assert store.create_api_key(key("ehr", "pbp_first"))
    assert not store.create_api_key(key("ehr", "pbp_second"))

    assert store.api_key_by_hash(hash_key("pbp_second")) is None
    assert [k.key_hash for k in store.api_keys()] == [hash_key("pbp_first")]


def test_keys_are_listed_by_name(store):
    assert store.api_keys() == []
    for name in ("zeta", "alpha", "mid"):
        assert store.create_api_key(key(name, f"pbp_{name}-secret"))

    assert [k.name for k in store.api_keys()] == ["alpha", "mid", "zeta"]


def test_revoking_keeps_the_key_but_marks_it_once(store):
    store.create_api_key(key("ehr", "pbp_first"))
    store.create_api_key(key("other", "pbp_second"))
    later = AT + timedelta(hours=1)

    assert store.revoke_api_key("ehr", later)
    assert not store.revoke_api_key("ehr", later + timedelta(hours=1))
    assert not store.revoke_api_key("nobody", later)

    revoked = store.api_key_by_hash(hash_key("pbp_first"))
    assert revoked.revoked_at == later
    assert not revoked.is_active
    assert store.api_key_by_hash(hash_key("pbp_second")).is_active
    listed = {k.name: k.revoked_at for k in store.api_keys()}
    assert listed == {"ehr": later, "other": None}
