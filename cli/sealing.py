"""Sealer options for ``agile keyset create|import`` and the ``agile keyset reseal`` command.

The sealers read their settings from keyword options or from environment
variables (``AGILE_TPM_*``, ``AGILE_PKCS11_*``, ``AGILE_SSS_*``, ``AGILE_KEEP_*``), because every
command that unseals a keyset (decrypt, sign, rotate) must reach the device
too.  On the command line each option below overrides its variable for the
duration of the command.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import click

from agile.errors import SealError, WrongPassphrase
from agile.seal.base import SEALERS, sealer_class

from .common import keystore_option, keystore_path, policy_option

__all__ = ["add_sealer_options", "reseal", "SEALER_OPTIONS"]

#: Environment variable with the new passphrase for ``agile keyset reseal``.
NEW_PASSPHRASE_ENV = "AGILE_NEW_PASSPHRASE"

#: Option name -> (flags, environment variable, metavar, help).
SEALER_OPTIONS: dict[str, tuple[str, str, str, str]] = {
    "pcrs": (
        "--pcrs",
        "AGILE_TPM_PCRS",
        "BANK:LIST",
        "tpm2: PCR bank and PCRs the key is sealed to (default: sha256:7).",
    ),
    "pcr_values": (
        "--pcr-values",
        "AGILE_TPM_PCR_VALUES",
        "INDEX=HEX,...",
        "tpm2: seal to these predicted PCR values instead of the current ones, for a "
        "planned firmware or boot change; the keyset opens only once the PCRs hold them.",
    ),
    "tpm_pin": (
        "--tpm-pin",
        "AGILE_TPM_PIN",
        "PIN",
        "tpm2: PIN required to unseal (default: none).",
    ),
    "tpm_tcti": (
        "--tpm-tcti",
        "AGILE_TPM_TCTI",
        "TCTI",
        "tpm2: TPM to use (default: device:/dev/tpmrm0), e.g. swtpm:host=127.0.0.1,port=2321.",
    ),
    "pkcs11_module": (
        "--pkcs11-module",
        "AGILE_PKCS11_MODULE",
        "PATH",
        "pkcs11: path of the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so.",
    ),
    "pkcs11_token": ("--pkcs11-token", "AGILE_PKCS11_TOKEN", "LABEL", "pkcs11: token label."),
    "pkcs11_pin": ("--pkcs11-pin", "AGILE_PKCS11_PIN", "PIN", "pkcs11: user PIN of the token."),
    "sss_threshold": (
        "--sss-threshold",
        "AGILE_SSS_THRESHOLD",
        "T",
        "sss: number of members needed to unseal.",
    ),
    "sss_members": (
        "--sss-members",
        "AGILE_SSS_MEMBERS",
        "LIST",
        "sss: comma-separated member sealers, e.g. passphrase,tpm2,pkcs11.",
    ),
    "keep_broker": (
        "--keep-broker",
        "AGILE_KEEP_BROKER",
        "URL",
        "keep: key broker URL, https://HOST:PORT.",
    ),
    "keep_broker_cert": (
        "--keep-broker-cert",
        "AGILE_KEEP_BROKER_CERT",
        "PEM",
        "keep: the broker's TLS certificate file (pinned).",
    ),
    "keep_token": (
        "--keep-token",
        "AGILE_KEEP_TOKEN",
        "TOKEN",
        "keep: the broker's admin token (needed to seal only).",
    ),
    "keep_policy": (
        "--keep-policy",
        "AGILE_KEEP_POLICY",
        "FILE",
        "keep: attestation policy file the broker enforces (needed to seal only).",
    ),
    "keep_evidence": (
        "--keep-evidence",
        "AGILE_KEEP_EVIDENCE",
        "SOURCE",
        "keep: evidence source, sev-guest (default), simulator:DIR or tpm:BANK:PCRS.",
    ),
}


def _options() -> list[click.Option]:
    return [
        click.Option(
            [flags, name],
            metavar=metavar,
            default=None,
            help=f"{text} Overrides ${variable}.",
        )
        for name, (flags, variable, metavar, text) in SEALER_OPTIONS.items()
    ]


@contextlib.contextmanager
def sealer_environment(values: dict[str, Any]) -> Iterator[None]:
    """Export the given sealer options as their variables for the duration of the block."""
    saved: dict[str, str | None] = {}
    for name, value in values.items():
        if value is None:
            continue
        variable = SEALER_OPTIONS[name][1]
        saved[variable] = os.environ.get(variable)
        os.environ[variable] = str(value)
    try:
        yield
    finally:
        for variable, old in saved.items():
            if old is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = old


def _check_members(options: dict[str, Any]) -> None:
    """Reject an sss member list, from --sss-members or its variable, that repeats a member."""
    from agile.seal.sss import MEMBERS_ENV, check_distinct_members

    members = options.get("sss_members") or os.environ.get(MEMBERS_ENV) or None
    check_distinct_members(members)


def add_sealer_options(command: click.Command) -> click.Command:
    """Add the sealer options to ``command``, whose callback then runs with them exported."""
    command.params.extend(_options())
    original: Callable[..., Any] = command.callback  # type: ignore[assignment]

    @functools.wraps(original)
    def callback(**arguments: Any) -> Any:
        values = {name: arguments.pop(name, None) for name in SEALER_OPTIONS}
        if arguments.get("sealer") == "sss":
            _check_members(values)
        with sealer_environment(values):
            return original(**arguments)

    command.callback = callback
    return command


def _with_sealer_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for name, (flags, variable, metavar, text) in reversed(SEALER_OPTIONS.items()):
        decorator = click.option(
            flags, name, metavar=metavar, default=None, help=f"{text} Overrides ${variable}."
        )
        function = decorator(function)
    return function


@click.command()
@click.argument("name")
@click.option(
    "--seal",
    "sealer",
    type=click.Choice(list(SEALERS)),
    default=None,
    help="Sealer to use from now on (default: the keyset's current one, keeping its choices "
    "such as the PCR list).",
)
@_with_sealer_options
@policy_option
@keystore_option
def reseal(name: str, sealer: str | None, policy: str | None, **sealer_options: Any) -> None:
    """Seal the key-encryption key of keyset NAME again.

    Run it after an intended change of the measured boot state (tpm2 sealed to
    PCRs), to move a keyset to another sealer, or to renew an sss quorum. The
    KEK is first unsealed with the current sealer: for a tpm2 keyset whose PCRs
    already changed, that needs a quorum of an sss sealer, so reseal a plain
    tpm2 keyset before the change.

    The options set how the KEK is sealed from now on.  The current PINs, TPM
    and token for opening it come from the variables (AGILE_TPM_PIN,
    AGILE_TPM_TCTI, AGILE_PKCS11_PIN, ...); an option is used for opening too
    only when its variable is unset.

    \b
    Examples:
      agile keyset reseal mail
      agile keyset reseal mail --seal tpm2 --pcrs sha256:0,7
      AGILE_TPM_PIN=4711 agile keyset reseal mail --tpm-pin 0815   # change the TPM PIN
      AGILE_TPM_PIN=0815 agile keyset reseal mail --seal sss --sss-threshold 2 \\
          --sss-members passphrase,tpm2,pkcs11
      AGILE_NEW_PASSPHRASE='new words' agile keyset reseal files   # change the passphrase of files
    """
    from agile.keys import Keystore
    from agile.keys.kek import kek_associated_data, unseal_kek
    from agile.seal.sss import accepted_options, enforce_sealers, sealer_from_options

    options = {name: value for name, value in sealer_options.items() if value is not None}
    store = Keystore.open(keystore_path())
    keyset = store.keyset(name)
    blob = keyset.seal_blob
    target = sealer or keyset.sealer
    active = store.policy(policy)
    enforce_sealers(active, target, blob, options)
    if target == "sss":
        _check_members(options)

    new_passphrase = os.environ.get(NEW_PASSPHRASE_ENV)
    if new_passphrase is not None and target != "passphrase":
        raise SealError(
            f"{NEW_PASSPHRASE_ENV} is set but keyset {name!r} is being sealed with {target!r}",
            fix=f"unset {NEW_PASSPHRASE_ENV}, or reseal with --seal passphrase",
        )
    if new_passphrase == "":
        raise SealError(f"{NEW_PASSPHRASE_ENV} is set but empty", fix="set a non-empty passphrase")

    # Opening uses the variables (the current PIN, TPM and token), and an option only where
    # its variable is unset, so a new --tpm-pin never counts as a wrong PIN on the old object.
    opening_options = {
        option: value
        for option, value in options.items()
        if not os.environ.get(SEALER_OPTIONS[option][1])
    }
    with sealer_environment(opening_options):
        try:
            kek = unseal_kek(store.root, keyset.name, keyset.uid, blob)
        except WrongPassphrase as error:
            fix = error.fix
            if blob.get("sealer") == "passphrase":
                fix = (
                    f"set AGILE_PASSPHRASE to the current passphrase of keyset {name!r}, and "
                    f"{NEW_PASSPHRASE_ENV} to the new one"
                )
            raise WrongPassphrase(f"keyset {name!r}: {error}", fix=fix) from None
    associated_data = kek_associated_data(keyset.name, keyset.uid)
    with sealer_environment(options):
        if new_passphrase is not None:
            # A passphrase change: AGILE_PASSPHRASE unsealed the KEK, the new passphrase seals it.
            from agile.seal.passphrase import PassphraseSealer

            new_blob = PassphraseSealer(new_passphrase).seal(kek, associated_data)
        else:
            resealer = None
            if target == blob.get("sealer"):
                cls = sealer_class(target)
                current = cls.from_blob(blob, **accepted_options(cls, options))
                resealer = getattr(current, "reseal", None)
            if resealer is not None:
                # Keep the blob's own choices (PCR selection, token, sss members) unless overridden.
                new_blob = resealer(blob, associated_data, secret=kek)
            else:
                new_blob = sealer_from_options(target, **options).seal(kek, associated_data)
    if new_blob.get("sealer") != target:
        raise SealError(f"sealer {target!r} returned a blob that names {new_blob.get('sealer')!r}")

    keyset.replace_seal(new_blob)
    click.echo(f"resealed keyset {name} with {target}")
