"""An sss member list that names one sealer twice is rejected: it is the same secret twice.

Members listed by name share one set of options (one AGILE_PASSPHRASE, one TPM,
one token), so ``passphrase,passphrase`` 2 of 2 opens with a single passphrase.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.errors import InvalidArgument
from agile.seal.sss import check_distinct_members
from tests.cli_helpers import run_agile


@pytest.mark.parametrize(
    "members", ["passphrase,passphrase", "tpm2,passphrase,tpm2", ["pkcs11", " pkcs11 "]]
)
def test_repeated_member_rejected(members: str | list[str]) -> None:
    with pytest.raises(InvalidArgument, match="more than once") as raised:
        check_distinct_members(members)
    assert raised.value.fix is not None and "once" in raised.value.fix


@pytest.mark.parametrize("members", [None, "passphrase", "passphrase,tpm2,pkcs11,keep"])
def test_distinct_members_accepted(members: str | None) -> None:
    check_distinct_members(members)


def test_create_rejects_repeated_member(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    result = run_agile(
        home,
        "keyset",
        "create",
        "s1",
        "--purpose",
        "kem",
        "--seal",
        "sss",
        "--sss-members",
        "passphrase,passphrase",
        "--sss-threshold",
        "2",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'passphrase,passphrase'" in lines[0]
    assert "more than once" in lines[0]
    assert not (home / "keysets" / "s1.json").exists()


def test_create_rejects_repeated_member_from_variable(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    result = run_agile(
        home,
        "keyset",
        "create",
        "s1",
        "--purpose",
        "kem",
        "--seal",
        "sss",
        AGILE_SSS_MEMBERS="passphrase,passphrase",
        AGILE_SSS_THRESHOLD="1",
    )
    assert result.returncode == 2
    assert "more than once" in result.stderr


def test_reseal_rejects_repeated_member(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    created = run_agile(home, "keyset", "create", "s1", "--purpose", "kem")
    assert created.returncode == 0, created.stderr
    result = run_agile(
        home,
        "keyset",
        "reseal",
        "s1",
        "--seal",
        "sss",
        "--sss-members",
        "passphrase,passphrase",
        "--sss-threshold",
        "2",
    )
    assert result.returncode == 2
    assert "more than once" in result.stderr
    described = run_agile(home, "keyset", "show", "s1")
    assert "sealer=passphrase" in described.stdout
