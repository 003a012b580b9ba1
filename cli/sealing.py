"""Sealer options for ``agile keyset create|import`` and the ``agile keyset reseal`` command.

The sealers read their settings from keyword options or from environment
variables (``AGILE_TPM_*``, ``AGILE_PKCS11_*``, ``AGILE_SSS_*``, ``AGILE_KEEP_*``), because every
command that unseals a keyset (decrypt, sign, rotate) must reach the device
too.  On the command line each option below overrides its variable for the
duration of the command.

An option for a sealer that the command does not use is a usage error, because
it would be ignored without a word (a --tpm-pin on a passphrase keyset).  The
variables are not checked that way: one environment serves every keyset.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import click

from agile.errors import InvalidArgument, SealError, WrongPassphrase
from agile.seal.base import SEALERS, SealedBlob, sealer_class
from agile.seal.passphrase import reseal_prompts

from .common import keystore_option, keystore_path, policy_option

__all__ = [
    "add_sealer_options",
    "check_restore_options",
    "with_sealer_options",
    "reseal",
    "SEALER_OPTIONS",
    "OPTION_SEALERS",
    "opening_environment",
    "new_passphrase_for",
    "seal_again",
    "reject_empty_pin",
    "pcr_note",
]

#: Environment variable with the new passphrase for ``agile keyset reseal``.
NEW_PASSPHRASE_ENV = "AGILE_NEW_PASSPHRASE"

#: Option name -> (flags, environment variable, metavar, help).
SEALER_OPTIONS: dict[str, tuple[str, str, str, str]] = {
    "pcrs": (
        "--pcrs",
        "AGILE_TPM_PCRS",
        "BANK:LIST",
        "tpm2: PCR bank and PCRs the key is sealed to (default: sha256:7; a reseal keeps "
        "the current ones).",
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
        "tpm2: PIN required to unseal, not empty, compared in Unicode NFC (default: none).",
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


#: Option name -> the sealer that reads it.
OPTION_SEALERS: dict[str, str] = {
    "pcrs": "tpm2",
    "pcr_values": "tpm2",
    "tpm_pin": "tpm2",
    "tpm_tcti": "tpm2",
    "pkcs11_module": "pkcs11",
    "pkcs11_token": "pkcs11",
    "pkcs11_pin": "pkcs11",
    "sss_threshold": "sss",
    "sss_members": "sss",
    "keep_broker": "keep",
    "keep_broker_cert": "keep",
    "keep_token": "keep",
    "keep_policy": "keep",
    "keep_evidence": "keep",
}


def reject_empty_pin(values: dict[str, Any]) -> None:
    """Raise InvalidArgument for --tpm-pin '', which would seal without a PIN unnoticed."""
    if values.get("tpm_pin") == "":
        raise InvalidArgument(
            "--tpm-pin is set but empty",
            fix="give a non-empty PIN; for a keyset without a PIN, leave out --tpm-pin and "
            "unset AGILE_TPM_PIN when you create it",
        )


def _member_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _blob_sealers(blob: SealedBlob) -> list[str]:
    """Return the sealer of ``blob`` and, for sss, those of its members at every depth."""
    names = [str(blob.get("sealer"))]
    if names[0] != "sss":
        return names
    for member in blob.get("members") or []:
        if isinstance(member, dict):
            names += _blob_sealers(member)
    return names


def _sss_members(values: dict[str, Any], current: SealedBlob | None = None) -> list[str] | None:
    """Return the member sealers an sss seal will use, or None when none are named yet.

    They come from --sss-members, else from its variable, else from ``current`` (the
    sss blob being resealed).
    """
    from agile.seal.sss import MEMBERS_ENV

    text = values.get("sss_members") or os.environ.get(MEMBERS_ENV)
    if text:
        return _member_names(str(text))
    if current is not None and current.get("sealer") == "sss":
        return _blob_sealers(current)[1:]
    return None


def reject_unused_options(
    values: dict[str, Any],
    sealer: str,
    members: list[str] | None,
    *,
    context: str,
    remedy: str = "pass --seal {sealer}",
    member_remedy: str = "add {sealer} to --sss-members",
) -> None:
    """Raise click.UsageError for an option given for a sealer that the command does not use.

    ``sealer`` is the sealer the command uses and ``members`` its sss members, where None
    means not known yet (then every member sealer's options may be used).  ``context``
    describes how the command chose ``sealer``.  ``remedy`` and, for an sss sealer,
    ``member_remedy`` describe how to use the option instead, with ``{sealer}`` for the
    option's own sealer.
    """
    if sealer == "sss" and members is None:
        return
    used = {sealer, *(members or [])}
    for name, value in values.items():
        owner = OPTION_SEALERS[name]
        if value is None or owner in used:
            continue
        flag = SEALER_OPTIONS[name][0]
        if sealer == "sss":
            raise click.UsageError(
                f"{flag} is an option of the {owner} sealer, which is not among the sss "
                f"members {','.join(members or [])}: {member_remedy.format(sealer=owner)}, "
                f"or leave out {flag}"
            )
        raise click.UsageError(
            f"{flag} is an option of the {owner} sealer, but {context}: "
            f"{remedy.format(sealer=owner)}, or leave out {flag}"
        )


def _check_options_used(
    values: dict[str, Any],
    arguments: dict[str, Any],
    existing_seal: Callable[[str], SealedBlob | None] | None,
) -> None:
    """Reject the sealer options that ``keyset create`` or ``keyset import`` would ignore."""
    name = arguments["name"]
    sealer = arguments["sealer"]
    source = click.get_current_context().get_parameter_source("sealer")
    chosen = source is not None and source is not click.core.ParameterSource.DEFAULT

    current = existing_seal(name) if existing_seal is not None else None
    if current is None:
        default = "" if chosen else " (the default of --seal)"
        context = f"the new keyset {name!r} is sealed with {sealer}{default}"
        reject_unused_options(values, sealer, _sss_members(values), context=context)
        return

    # Importing into an existing keyset: --seal and the options of other sealers do
    # nothing, while those of the keyset's own sealers reach it when it is opened.
    current_sealer = str(current.get("sealer"))
    if chosen and sealer != current_sealer:
        raise click.UsageError(
            f"--seal {sealer} applies only to a new keyset, and keyset {name!r} exists, sealed "
            f"with {current_sealer}: leave out --seal, or change its sealer with agile keyset "
            f"reseal {name} --seal {sealer}"
        )
    sealers = _blob_sealers(current)
    reject_unused_options(
        values,
        sealers[0],
        sealers[1:] if sealers[0] == "sss" else [],
        context=f"keyset {name!r} exists, sealed with {current_sealer}",
        remedy=f"change its sealer with agile keyset reseal {name} --seal {{sealer}}",
        member_remedy=f"add {{sealer}} with agile keyset reseal {name} --sss-members LIST",
    )


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


def check_restore_options(values: dict[str, Any], arguments: dict[str, Any]) -> None:
    """Reject the sealer options that ``share combine`` would ignore.

    Only ``--keyset NAME`` seals anything: the restored KEK, with ``--seal`` or
    else the keyset's current sealer.
    """
    name = arguments.get("keyset")
    given = [SEALER_OPTIONS[option][0] for option, value in values.items() if value is not None]
    if name is None:
        if given:
            raise click.UsageError(
                f"{given[0]} seals a restored keyset: add --keyset NAME, or leave out {given[0]}"
            )
        return
    current = _keyset_seal(name)
    target = arguments.get("sealer") or (current.get("sealer") if current else None)
    if target is None:
        return  # No such keyset: restoring it fails with its own error.
    members = _sss_members(values, current) if target == "sss" else []
    context = f"keyset {name!r} is sealed with {target} after the restore"
    reject_unused_options(values, str(target), members, context=context)


def _keyset_seal(name: str) -> SealedBlob | None:
    """Return the sealed KEK of keyset ``name`` in the chosen keystore, or None."""
    from agile.errors import AgileError
    from agile.keys import Keystore

    try:
        store = Keystore.open(keystore_path(), create=False)
        if name not in store.keyset_names():
            return None
        return store.keyset(name).seal_blob
    except AgileError:
        return None


def add_sealer_options(
    command: click.Command,
    *,
    existing_seal: Callable[[str], SealedBlob | None] | None = None,
    check: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> click.Command:
    """Add the sealer options to ``command``, whose callback then runs with them exported.

    By default ``command`` has a NAME argument and a --seal option for a new keyset,
    and ``existing_seal`` returns the sealed blob of an existing keyset NAME, or None,
    for a command that also adds to existing keysets.  A command of another shape
    passes ``check``, called with the option values and the other arguments, to
    reject the options it would ignore.
    """
    command.params.extend(_options())
    original: Callable[..., Any] = command.callback  # type: ignore[assignment]

    @functools.wraps(original)
    def callback(**arguments: Any) -> Any:
        values = {name: arguments.pop(name, None) for name in SEALER_OPTIONS}
        reject_empty_pin(values)
        if check is not None:
            check(values, arguments)
        else:
            _check_options_used(values, arguments, existing_seal)
        if arguments.get("sealer") == "sss":
            _check_members(values)
        with sealer_environment(values):
            return original(**arguments)

    command.callback = callback
    return command


def with_sealer_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add every sealer option to a command, as keyword arguments of its callback."""
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
@with_sealer_options
@policy_option
@keystore_option
def reseal(name: str, sealer: str | None, policy: str | None, **sealer_options: Any) -> None:
    """Seal the key-encryption key of keyset NAME again.

    Run it after an intended change of the measured boot state (tpm2 sealed to
    PCRs), to move a keyset to another sealer, or to renew an sss quorum. The
    KEK is first unsealed with the current sealer: for a tpm2 keyset whose PCRs
    already changed, that needs a quorum of an sss sealer, so reseal a plain
    tpm2 keyset before the change.

    The options set how the KEK is sealed from now on.  The current PINs and
    TPM for opening it come from the variables (AGILE_TPM_PIN, AGILE_TPM_TCTI,
    AGILE_PKCS11_PIN, ...), and the token and key broker from the keyset.  An
    option is used for opening too only when its variable is unset.

    \b
    Examples:
      agile keyset reseal mail
      agile keyset reseal mail --seal tpm2 --pcrs sha256:0,7
      AGILE_TPM_PIN=4711 agile keyset reseal mail --tpm-pin 0815   # change the TPM PIN
      AGILE_TPM_PIN=0815 agile keyset reseal mail --seal sss --sss-threshold 2 \\
          --sss-members passphrase,tpm2,pkcs11
      AGILE_NEW_PASSPHRASE='new words' agile keyset reseal files   # change the passphrase of files

    An sss keyset keeps each member's passphrase and TPM PIN: the members'
    secrets in AGILE_PASSPHRASE and AGILE_TPM_PIN must open their old members,
    even when the other members opened the keyset.  To replace one on purpose,
    give the new passphrase in AGILE_NEW_PASSPHRASE or the new PIN with --tpm-pin.
    """
    from agile.keys import Keystore
    from agile.keys.kek import kek_associated_data, unseal_kek
    from agile.seal.passphrase import enforce_password_kdfs
    from agile.seal.sss import enforce_sealers

    options = {name: value for name, value in sealer_options.items() if value is not None}
    reject_empty_pin(options)
    store = Keystore.open(keystore_path(), create=False)
    keyset = store.keyset(name)
    blob = keyset.seal_blob
    target = sealer or keyset.sealer
    reject_unused_options(
        options,
        target,
        _sss_members(options, blob) if target == "sss" else [],
        context=f"keyset {name!r} is resealed with {target}"
        + ("" if sealer else " (its current sealer)"),
    )
    active = store.policy(policy)
    enforce_sealers(active, target, blob, options)
    # The KEK is opened with its current password KDF before it is sealed again.
    active.enforce_keyset_open(name, blob, "reseal it")
    if target == "sss":
        _check_members(options)

    new_passphrase = new_passphrase_for(target, options, blob, subject=f"keyset {name!r}")
    with opening_environment(options), reseal_prompts():
        try:
            kek = unseal_kek(store.root, keyset.name, keyset.uid, blob)
        except WrongPassphrase as error:
            fix = error.fix
            if blob.get("sealer") == "passphrase":
                fix = (
                    f"set AGILE_PASSPHRASE to the current passphrase of keyset {name!r}, and "
                    f"{NEW_PASSPHRASE_ENV} to the new one"
                )
            prefix = f"keyset {name!r}: "
            message = str(error) if str(error).startswith(prefix) else prefix + str(error)
            raise WrongPassphrase(message, fix=fix) from None
    associated_data = kek_associated_data(keyset.name, keyset.uid)
    new_blob = seal_again(
        blob, associated_data, kek, target, options, new_passphrase, _password_kdf(active)
    )
    # The passphrase seals, sss members included, must use a KDF the policy allows.
    enforce_password_kdfs(active, new_blob, "encrypt", f"keyset {name!r}")
    keyset.replace_seal(new_blob)
    click.echo(f"resealed keyset {name} with {target}{pcr_note(blob, new_blob, options)}")


# Resealing a sealed secret, a keyset's KEK or a key broker's master key, with the
# same options and variables.


def opening_environment(options: dict[str, Any]) -> contextlib.AbstractContextManager[None]:
    """Export the options whose variables are unset, to open a secret sealed earlier.

    The variables hold the current PIN and TPM, so a new --tpm-pin is not tried as
    the PIN of the old sealed object.  The token and the key broker are those the
    sealed blob names.
    """
    return sealer_environment(
        {
            option: value
            for option, value in options.items()
            if not os.environ.get(SEALER_OPTIONS[option][1])
        }
    )


def new_passphrase_for(
    target: str, options: dict[str, Any], blob: SealedBlob, *, subject: str
) -> str | None:
    """Return AGILE_NEW_PASSPHRASE (None when unset) if sealer ``target`` can use it.

    ``subject`` names what is being resealed in the error, such as "the broker's master key".
    """
    from agile.seal.sss import member_names

    new_passphrase = os.environ.get(NEW_PASSPHRASE_ENV)
    if new_passphrase is None:
        return None
    # A passphrase changes within one sealer: the passphrase sealer, or the passphrase
    # member of an sss sealer that stays sss.  A move to sss seals a new passphrase
    # member with AGILE_PASSPHRASE.
    has_passphrase = target == "passphrase" or (
        target == "sss" and "passphrase" in member_names(options, blob)
    )
    if not has_passphrase:
        raise SealError(
            f"{NEW_PASSPHRASE_ENV} is set but {subject} is sealed with {target!r} from now on, "
            "which has no passphrase",
            fix=f"unset {NEW_PASSPHRASE_ENV}, or reseal with the passphrase sealer (or an sss "
            "sealer with a passphrase member)",
        )
    if target == "sss" and blob.get("sealer") != "sss":
        raise SealError(
            f"{NEW_PASSPHRASE_ENV} is set but {subject} moves from {blob.get('sealer')!r} to "
            "sss, whose new passphrase member is sealed with AGILE_PASSPHRASE",
            fix=f"unset {NEW_PASSPHRASE_ENV} and set AGILE_PASSPHRASE to the passphrase for the "
            "new member",
        )
    if not new_passphrase:
        raise SealError(f"{NEW_PASSPHRASE_ENV} is set but empty", fix="set a non-empty passphrase")
    return new_passphrase


def seal_again(
    blob: SealedBlob,
    associated_data: bytes,
    secret: bytes,
    target: str,
    options: dict[str, Any],
    new_passphrase: str | None = None,
    password_kdf: str | None = None,
) -> SealedBlob:
    """Seal ``secret``, now sealed in ``blob``, with sealer ``target`` and ``options``.

    ``password_kdf`` is the KDF of new passphrase seals (the policy's choice);
    None keeps the sealer's default.

    When ``target`` is the blob's own sealer, its reseal method keeps the blob's
    choices (PCR selection, token, sss members) that no option overrides.  With
    another sealer, or new sss members, the tpm2 seals keep the PCR selection of
    the blob's tpm2 seal unless the ``pcrs`` option is given.
    ``new_passphrase`` (from :func:`new_passphrase_for`) replaces the passphrase
    of a passphrase sealer or of the passphrase members of an sss sealer.
    """
    from agile.seal.passphrase import PassphraseSealer
    from agile.seal.sss import accepted_options, sealer_from_options

    reseal_options = dict(options)
    if password_kdf is not None:
        reseal_options.setdefault("password_kdf", password_kdf)
    if new_passphrase is not None and target == "sss":
        reseal_options["passphrase"] = new_passphrase
    current_pcrs = _tpm2_selection(blob)
    if (
        current_pcrs is not None
        and not options.get("pcrs")
        and not _keeps_own_choices(blob, target, options)
    ):
        reseal_options["pcrs"] = current_pcrs
    with sealer_environment(options):
        if new_passphrase is not None and target == "passphrase":
            new_blob = PassphraseSealer(new_passphrase, password_kdf=password_kdf).seal(
                secret, associated_data
            )
        else:
            resealer = None
            if target == blob.get("sealer"):
                cls = sealer_class(target)
                current = cls.from_blob(blob, **accepted_options(cls, reseal_options))
                resealer = getattr(current, "reseal", None)
            if resealer is not None:
                new_blob = resealer(blob, associated_data, secret=secret)
            else:
                new_blob = sealer_from_options(target, **reseal_options).seal(
                    secret, associated_data
                )
    if new_blob.get("sealer") != target:
        raise SealError(f"sealer {target!r} returned a blob that names {new_blob.get('sealer')!r}")
    return new_blob


def _password_kdf(policy: Any) -> str | None:
    """Return the password KDF that ``policy`` prefers for new passphrase seals, or None.

    None when the policy allows none: a reseal without a passphrase seal needs
    none, and the check of the new blob reports the denial otherwise.
    """
    from agile.errors import PolicyViolation
    from agile.seal.passphrase import choose_password_kdf

    try:
        return choose_password_kdf(policy)
    except PolicyViolation:
        return None


def _keeps_own_choices(blob: SealedBlob, target: str, options: dict[str, Any]) -> bool:
    """Return whether resealing ``blob`` with ``target`` keeps each member's own choices.

    That is so when the sealer stays the same, except for an sss sealer given new members.
    """
    from agile.seal.sss import MEMBERS_ENV

    if target != blob.get("sealer"):
        return False
    return target != "sss" or not (options.get("sss_members") or os.environ.get(MEMBERS_ENV))


def _tpm2_selections(blob: SealedBlob) -> list[str]:
    """Return the PCR selection of each tpm2 seal in ``blob``, sss members included."""
    if blob.get("sealer") == "tpm2":
        return [blob["pcrs"]] if isinstance(blob.get("pcrs"), str) else []
    selections: list[str] = []
    if blob.get("sealer") == "sss":
        for member in blob.get("members") or []:
            if isinstance(member, dict):
                selections += _tpm2_selections(member)
    return selections


def _tpm2_selection(blob: SealedBlob) -> str | None:
    """Return the PCR selection of the first tpm2 seal in ``blob``, or None when it has none."""
    selections = _tpm2_selections(blob)
    return selections[0] if selections else None


def pcr_note(old_blob: SealedBlob, new_blob: SealedBlob, options: dict[str, Any]) -> str:
    """Return the end of a reseal message that names the PCR selection the tpm2 seals use.

    Empty when neither blob has a tpm2 seal.
    """
    old = list(dict.fromkeys(_tpm2_selections(old_blob)))
    new = list(dict.fromkeys(_tpm2_selections(new_blob)))
    if not new:
        if not old:
            return ""
        return (
            f"; the PCR selection {old[0]} of the tpm2 seal is not kept, so pass --pcrs {old[0]} "
            "to seal to it again with tpm2 later"
        )
    listed = ", ".join(new)
    if options.get("pcrs"):
        return f" to PCRs {listed} from --pcrs"
    if set(new) <= set(old):
        return f", keeping the PCR selection {listed} (--pcrs changes it)"
    source = "from AGILE_TPM_PCRS" if os.environ.get("AGILE_TPM_PCRS") else "the default"
    return f" to PCRs {listed}, {source} (--pcrs chooses others)"
