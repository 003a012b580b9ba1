"""The hkdf-sha256 warning of policy validate and policy set: advice per engine and case."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.policy import load_policy
from cli.policy import envelope_warnings

_PREFERRED = (
    '{"kem": "x25519", "signature": "ed25519", "aead": "aes-256-gcm", "kdf": "hkdf-sha384", '
    '"password-kdf": "argon2id", "homomorphic": "paillier-3072", '
    '"secret-sharing": "shamir-gf256", "seal": "passphrase"}'
)
_REGO = f"""package agile.nohkdf

import rego.v1

default allow := false

allow if input.algorithm.id != "hkdf-sha256"

deny := set()

rules := set()

preferred := {_PREFERRED}

sealers := ["passphrase"]
"""


def _warning(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    warnings = envelope_warnings(load_policy(str(path)))
    assert len(warnings) == 1
    return warnings[0]


def test_expired_demote_names_date(tmp_path: Path) -> None:
    text = 'base = "default"\n[kdf]\ndemote = [{id = "hkdf-sha256", until = 2020-01-01}]\n'

    warning = _warning(tmp_path, "old.toml", text)

    assert "2020-01-01" in warning
    assert "later until date" in warning
    assert "decrypt_only is enough" not in warning


def test_expired_decrypt_only_names_date(tmp_path: Path) -> None:
    text = (
        'base = "default"\n[kdf]\nallowed = ["hkdf-sha384"]\n'
        'decrypt_only = [{id = "hkdf-sha256", until = 2021-06-30}]\n'
    )

    warning = _warning(tmp_path, "old.toml", text)

    assert "2021-06-30" in warning
    assert "decrypt_only is enough" not in warning


def test_current_demote_asks_for_allowed(tmp_path: Path) -> None:
    warning = _warning(
        tmp_path, "demote.toml", 'base = "default"\n[kdf]\ndemote = ["hkdf-sha256"]\n'
    )

    assert "denies encrypt with hkdf-sha256" in warning
    assert "list hkdf-sha256 in [kdf] allowed" in warning
    assert "decrypt_only is enough" not in warning


def test_removed_kdf_toml_advice(tmp_path: Path) -> None:
    warning = _warning(tmp_path, "gone.toml", 'base = "default"\n[kdf]\nremove = ["hkdf-sha256"]\n')

    assert "list hkdf-sha256 in [kdf] allowed" in warning
    assert "decrypt_only is enough to read old envelopes" in warning


def test_rego_advice_without_toml(tmp_path: Path) -> None:
    pytest.importorskip("regorus")

    warning = _warning(tmp_path, "nohkdf.rego", _REGO)

    assert "Rego module" in warning
    assert 'input.algorithm.id is "hkdf-sha256"' in warning
    assert "[kdf]" not in warning
    assert "decrypt_only" not in warning
