"""``agile algorithms --json`` lists what the registry offers."""

from __future__ import annotations

import json

from click.testing import CliRunner

from agile.registry import DESCRIPTORS, Family
from cli.main import cli

TWO_PROVIDERS = ["ml-kem-768", "ml-kem-1024", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "x25519"]
# Homomorphic and secret-sharing ids get their providers from the he and sharing packages.
OTHER_PACKAGES = {Family.HOMOMORPHIC.value, Family.SECRET_SHARING.value}


def _rows() -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["algorithms", "--json"])
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.output)}


def test_algorithms_json_lists_every_id() -> None:
    rows = _rows()

    assert set(rows) == {descriptor.id for descriptor in DESCRIPTORS}


def test_algorithms_json_has_providers() -> None:
    rows = _rows()

    for algorithm, row in rows.items():
        if row["family"] in OTHER_PACKAGES:
            continue
        assert row["providers"], f"{algorithm} has no provider"


def test_algorithms_json_two_providers() -> None:
    rows = _rows()

    for algorithm in [*TWO_PROVIDERS, "ed25519"]:
        assert len(rows[algorithm]["providers"]) >= 2, algorithm
