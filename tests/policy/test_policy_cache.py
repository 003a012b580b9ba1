"""The allow-decision cache of TOML policies: enforce() agrees with decide() at every instant."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random

import pytest

from agile.errors import PolicyViolation
from agile.policy import KeyMeta, ProfilePolicy, load_policy

UTC = dt.UTC
ONE_SECOND = dt.timedelta(seconds=1)


def at(year: int, month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def fresh(spec: str) -> ProfilePolicy:
    """Return a new policy object (built-in specs are shared, and so would be their caches)."""
    policy = load_policy(spec)
    assert isinstance(policy, ProfilePolicy)
    return ProfilePolicy(policy.name, policy.description, policy.rules, source=policy.source)


def allowed(
    policy: ProfilePolicy, operation: str, algorithm: str, key: KeyMeta | None, now: dt.datetime
) -> bool:
    try:
        policy.enforce(operation, algorithm, key=key, now=now)
    except PolicyViolation:
        return False
    return True


def key(created: dt.datetime, status: str = "primary") -> KeyMeta:
    return KeyMeta("k1", "x25519", created, status, keyset="ks")


def test_key_age_expires_cached_allow() -> None:
    policy = fresh("default")
    meta = key(at(2025, 1, 1))
    assert allowed(policy, "encrypt", "x25519", meta, at(2025, 6, 1))
    assert not allowed(policy, "encrypt", "x25519", meta, at(2026, 6, 1))


def test_key_age_boundary_matches_decide() -> None:
    policy = fresh("default")
    created = at(2025, 1, 1)
    limit = policy.max_key_age("kem")
    assert limit is not None
    meta = key(created)
    assert allowed(policy, "encrypt", "x25519", meta, created)
    for offset in (-2, -1, 0, 1, 2):
        moment = created + limit + offset * ONE_SECOND
        expected = policy.decide("encrypt", "x25519", key=meta, now=moment).allowed
        assert allowed(policy, "encrypt", "x25519", meta, moment) == expected


def test_until_expires_cached_allow() -> None:
    policy = fresh("fips")
    assert allowed(policy, "decrypt", "rsa-oaep-2048", None, at(2030, 12, 31, 23))
    assert not allowed(policy, "decrypt", "rsa-oaep-2048", None, at(2031, 1, 1, 0))


def test_clock_set_back_keeps_allow() -> None:
    policy = fresh("fips")
    assert allowed(policy, "decrypt", "rsa-oaep-2048", None, at(2030, 6, 1))
    assert allowed(policy, "decrypt", "rsa-oaep-2048", None, at(2027, 1, 1))


def test_replaced_rules_invalidate() -> None:
    policy = fresh("default")
    assert allowed(policy, "encrypt", "aes-256-gcm", None, at(2026, 1, 1))
    rules = policy.rules["aead"]
    remaining = tuple(item for item in rules.allowed if item != "aes-256-gcm")
    policy.rules["aead"] = dataclasses.replace(rules, allowed=remaining)
    assert not allowed(policy, "encrypt", "aes-256-gcm", None, at(2026, 1, 1))


def test_status_is_part_of_key() -> None:
    policy = fresh("default")
    created = at(2026, 1, 1)
    assert allowed(policy, "encrypt", "x25519", key(created), at(2026, 2, 1))
    old = key(created, status="decrypt-only")
    expected = policy.decide("encrypt", "x25519", key=old, now=at(2026, 2, 1)).allowed
    assert allowed(policy, "encrypt", "x25519", old, at(2026, 2, 1)) == expected


def test_denial_not_cached() -> None:
    policy = fresh("pq-hybrid")
    assert not allowed(policy, "encrypt", "x25519", None, at(2026, 6, 1))
    assert not allowed(policy, "encrypt", "x25519", None, at(2026, 6, 1))


@pytest.mark.parametrize("spec", ["default", "fips", "pq-hybrid", "legacy"])
def test_enforce_agrees_with_decide_in_any_order(spec: str) -> None:
    policy = fresh(spec)
    created = at(2025, 3, 1)
    limit = policy.max_key_age("kem") or dt.timedelta(days=365)
    moments = [
        at(2024, 1, 1),
        created,
        created + limit - ONE_SECOND,
        created + limit,
        created + limit + ONE_SECOND,
        at(2030, 12, 31, 23),
        at(2031, 1, 1, 0),
        at(2040, 1, 1),
    ]
    questions = [
        (operation, algorithm, meta)
        for operation, algorithm in itertools.product(
            ("encrypt", "decrypt"), ("x25519", "x-wing", "rsa-oaep-2048")
        )
        for meta in (None, KeyMeta("k1", algorithm, created, "primary", keyset="ks"))
    ]
    cases = [(q, moment) for q in questions for moment in moments]
    random.Random(7).shuffle(cases)
    mismatches = []
    for (operation, algorithm, meta), moment in cases:
        expected = policy.decide(operation, algorithm, key=meta, now=moment).allowed
        if allowed(policy, operation, algorithm, meta, moment) != expected:
            mismatches.append((operation, algorithm, meta, moment))
    assert mismatches == []
