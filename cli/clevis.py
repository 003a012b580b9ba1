"""``agile clevis``: open and write JWEs of the Clevis tpm2 pin."""

from __future__ import annotations

import sys

import click

from agile.seal.tpm2 import TCTI_ENV

__all__ = ["clevis"]

tcti_option = click.option(
    "--tpm-tcti",
    "tcti",
    metavar="TCTI",
    default=None,
    help=f"TPM to use, as a TCTI string (default: ${TCTI_ENV}, else device:/dev/tpmrm0), "
    "e.g. swtpm:host=127.0.0.1,port=2321 or tabrmd:bus_type=session.",
)


@click.group()
def clevis() -> None:
    """Interoperate with Clevis: decrypt its tpm2 JWEs and write JWEs that clevis decrypts.

    \b
    Examples:
      clevis encrypt tpm2 '{"pcr_bank":"sha256","pcr_ids":"7"}' < secret > secret.jwe
      agile clevis decrypt < secret.jwe > secret
      agile clevis encrypt tpm2 '{"pcr_bank":"sha256","pcr_ids":"7"}' < secret > secret.jwe
      clevis decrypt < secret.jwe > secret
    """


@clevis.command()
@click.argument("pin", type=click.Choice(["tpm2"]))
@click.argument("config", default="{}")
@tcti_option
def encrypt(pin: str, config: str, tcti: str | None) -> None:
    """Encrypt standard input to a compact JWE on standard output, sealed to the TPM.

    A secret larger than 32 MiB is rejected.

    CONFIG is the JSON of the clevis tpm2 pin: hash (default sha256), key (ecc
    or rsa, default ecc), pcr_bank (default sha1, as in clevis), pcr_ids (e.g.
    "0,7"; without it no PCR policy is used) and pcr_digest (base64url of the
    expected PCR values; default the current values).

    \b
    Example:
      agile clevis encrypt tpm2 '{"pcr_ids":"0,7"}' < secret.txt > secret.jwe
    """
    from agile.seal.clevis import MAX_PLAINTEXT_SIZE, encrypt_tpm2, parse_config, read_bounded

    parsed = parse_config(config)
    if parsed.hash != "sha256" and parsed.pcr_ids:
        # Clevis 19's decrypt runs tpm2_unseal -p pcr:..., which with tpm2-tools 5.4 fails the
        # policy of such an object, even one that clevis encrypt made itself (tested on swtpm).
        click.echo(
            f"agile: warning: clevis decrypt (clevis 19, tpm2-tools 5) cannot open a JWE with "
            f"hash {parsed.hash!r} and pcr_ids; only agile clevis decrypt can. Use "
            '"hash":"sha256" (the default) for a JWE that clevis opens',
            err=True,
        )
    plaintext = read_bounded(
        sys.stdin.buffer,
        MAX_PLAINTEXT_SIZE,
        "standard input",
        fix="encrypt a small secret such as a disk key, and protect larger data with that key",
    )
    jwe = encrypt_tpm2(plaintext, parsed, tcti)
    sys.stdout.buffer.write(jwe)
    sys.stdout.buffer.flush()


@clevis.command()
@tcti_option
def decrypt(tcti: str | None) -> None:
    """Decrypt a clevis tpm2 JWE (at most 64 MiB) from standard input to standard output.

    Nothing is written when the authentication tag check fails.

    \b
    Example:
      agile clevis decrypt < secret.jwe > secret.txt
    """
    from agile.seal.clevis import MAX_JWE_SIZE, read_bounded
    from agile.seal.clevis import decrypt as decrypt_jwe

    jwe = read_bounded(
        sys.stdin.buffer,
        MAX_JWE_SIZE,
        "standard input",
        fix="pass a clevis JWE on standard input, not a device or an endless stream",
    )
    plaintext = decrypt_jwe(jwe, tcti)
    sys.stdout.buffer.write(plaintext)
    sys.stdout.buffer.flush()
