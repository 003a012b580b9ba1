"""The policy's sealer list applies to every member of an sss quorum."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.errors import PolicyViolation
from agile.keys import Keystore
from agile.policy import load_policy

POLICY = """
name = "sss-only"
base = "default"

[seal]
allowed = ["sss", "pkcs11"]
"""


def test_sss_member_not_allowed(tmp_path: Path, keystore: Path, store: Keystore) -> None:
    policy_file = tmp_path / "sss-only.toml"
    policy_file.write_text(POLICY)
    options = {"sss_threshold": 1, "sss_members": "passphrase,passphrase"}

    with pytest.raises(PolicyViolation, match="passphrase"):
        store.create_keyset(
            "quorum",
            "aead",
            policy=load_policy(str(policy_file)),
            sealer="sss",
            sealer_options=options,
        )

    assert not (keystore / "keysets" / "quorum.json").exists()


def test_sss_members_allowed(store: Keystore) -> None:
    options = {"sss_threshold": 1, "sss_members": "passphrase,passphrase"}

    keyset = store.create_keyset("quorum", "aead", sealer="sss", sealer_options=options)

    assert keyset.primary.status.value == "primary"
