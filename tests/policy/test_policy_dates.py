"""Date rules with a fixed clock: until days, max_key_age, rotation findings."""

from __future__ import annotations

import datetime as dt

import pytest

from agile.errors import InvalidArgument, PolicyViolation
from agile.policy import KeyMeta, check_keys, load_policy

UTC = dt.UTC


def at(year: int, month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def test_until_last_day_open() -> None:
    policy = load_policy("fips")
    assert policy.decide("decrypt", "rsa-oaep-2048", now=at(2030, 12, 31, 23)).allowed


def test_until_next_day_closed() -> None:
    policy = load_policy("fips")
    decision = policy.decide("decrypt", "rsa-oaep-2048", now=at(2031, 1, 1, 0))
    assert not decision.allowed
    assert "2030-12-31" in decision.reasons[0]


def test_until_uses_utc() -> None:
    # 2030-12-31 23:30 in UTC-05:00 is already 2031-01-01 in UTC.
    local = dt.datetime(2030, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert not load_policy("fips").decide("decrypt", "rsa-oaep-2048", now=local).allowed


def test_until_never_allows_encrypt() -> None:
    assert not load_policy("fips").decide("encrypt", "rsa-oaep-2048", now=at(2027, 1, 1)).allowed


def test_naive_now_rejected() -> None:
    with pytest.raises(InvalidArgument):
        load_policy("default").decide("encrypt", "x25519", now=dt.datetime(2027, 1, 1))


def key(algorithm: str, created: dt.datetime, status: str = "primary") -> KeyMeta:
    return KeyMeta("k1", algorithm, created, status, keyset="ks")


def test_key_age_blocks_encrypt() -> None:
    policy = load_policy("default")
    decision = policy.decide(
        "encrypt", "x25519", key=key("x25519", at(2025, 1, 1)), now=at(2026, 6, 1)
    )
    assert not decision.allowed
    assert decision.rules == ["kem.max_key_age"]


def test_key_age_allows_decrypt() -> None:
    policy = load_policy("default")
    old = key("x25519", at(2020, 1, 1))
    assert policy.decide("decrypt", "x25519", key=old, now=at(2026, 6, 1)).allowed


def test_key_age_within_limit() -> None:
    policy = load_policy("default")
    fresh = key("x25519", at(2026, 1, 1))
    assert policy.decide("encrypt", "x25519", key=fresh, now=at(2026, 6, 1)).allowed


def test_key_wrong_algorithm() -> None:
    with pytest.raises(InvalidArgument):
        load_policy("default").decide("encrypt", "p256", key=key("x25519", at(2026, 1, 1)))


def test_due_old_key() -> None:
    reasons = load_policy("default").due_for_rotation(key("x25519", at(2024, 1, 1)), at(2026, 6, 1))
    assert len(reasons) == 1
    assert "max_key_age 365d" in reasons[0]


def test_due_disallowed_algorithm() -> None:
    reasons = load_policy("pq-hybrid").due_for_rotation(
        key("x25519", at(2026, 5, 1)), at(2026, 6, 1)
    )
    assert len(reasons) == 1
    assert "x-wing" in reasons[0]


def test_due_fine() -> None:
    assert (
        load_policy("pq-hybrid").due_for_rotation(key("x-wing", at(2026, 5, 1)), at(2026, 6, 1))
        == []
    )


def test_due_decrypt_only_key_openable() -> None:
    old = key("x25519", at(2020, 1, 1), status="decrypt-only")
    assert load_policy("pq-hybrid").due_for_rotation(old, at(2026, 6, 1)) == []


def test_due_decrypt_only_key_expired() -> None:
    old = key("rsa-oaep-2048", at(2020, 1, 1), status="decrypt-only")
    assert load_policy("pq-hybrid").due_for_rotation(old, at(2031, 6, 1)) != []


def test_check_keys_findings() -> None:
    keys = [
        key("x-wing", at(2026, 5, 1)),
        KeyMeta("k2", "x25519", at(2026, 5, 1), "primary", keyset="old"),
        KeyMeta("k3", "x25519", at(2020, 5, 1), "destroyed", keyset="old"),
    ]
    findings = check_keys(load_policy("pq-hybrid"), keys, now=at(2026, 6, 1))
    assert [finding.key_id for finding in findings] == ["k2"]


def test_enforce_raises_reasons() -> None:
    with pytest.raises(PolicyViolation) as caught:
        load_policy("pq-hybrid").enforce("encrypt", "x25519", now=at(2026, 6, 1))
    assert caught.value.reasons
    assert "x-wing" in caught.value.fix


def test_enforce_allows() -> None:
    assert load_policy("pq-hybrid").enforce("decrypt", "x25519", now=at(2026, 6, 1)) is None


def test_until_passed_new_use_reason() -> None:
    decision = load_policy("fips").decide("encrypt", "rsa-oaep-2048", now=at(2031, 1, 1, 0))

    assert not decision.allowed
    assert "is only allowed for decrypt" not in decision.reasons[0]
    assert "until 2030-12-31 (kem.decrypt_only), which has passed" in decision.reasons[0]


def test_until_open_new_use_reason() -> None:
    decision = load_policy("fips").decide("encrypt", "rsa-oaep-2048", now=at(2030, 12, 31, 23))

    assert "is only allowed for decrypt under policy 'fips'" in decision.reasons[0]


def test_until_passed_check_reason() -> None:
    created = at(2030, 6, 1)
    key = KeyMeta("k1", "rsa-oaep-2048", created, "primary", keyset="mail")

    [finding] = check_keys(load_policy("fips"), [key], now=at(2031, 1, 1, 0))

    assert "is only allowed for decrypt" not in finding.reasons[0]
    assert "which has passed" in finding.reasons[0]
