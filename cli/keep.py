"""``agile keep``: run the attested key broker and request keys from it."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click

from agile.attest.broker import RELEASE_KEMS, BrokerClient, BrokerConfig, BrokerServer, KeyBroker
from agile.attest.broker import init_broker as create_broker
from agile.attest.policy import load_policy
from agile.errors import InvalidArgument
from agile.fsio import atomic_write, descriptor_of
from agile.seal.base import SEALERS, SealedBlob

from .common import echo_status, emit_json, json_option
from .sealing import (
    new_passphrase_for,
    opening_environment,
    pcr_note,
    reject_empty_pin,
    reject_unused_options,
    seal_again,
    sealer_environment,
    with_sealer_options,
)

__all__ = ["keep"]

log = logging.getLogger("agile.cli.keep")

#: Largest secret file read. The broker's own limit (4096 bytes) gives the precise error.
_MAX_SECRET_READ = 1 << 16

_broker_option = click.option(
    "--broker",
    envvar="AGILE_KEEP_BROKER",
    required=True,
    metavar="URL",
    help="Broker URL, https://HOST:PORT; may come from $AGILE_KEEP_BROKER instead.",
)
_cert_option = click.option(
    "--broker-cert",
    envvar="AGILE_KEEP_BROKER_CERT",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The broker's TLS certificate, tls/cert.pem in its directory; only it is trusted. "
    "May come from $AGILE_KEEP_BROKER_CERT instead.",
)


@click.group()
def keep() -> None:
    """Attested key release: a broker that gives keys only to verified SEV-SNP or TPM evidence.

    \b
    Examples:
      agile keep init /srv/broker --port 8443
      agile keep serve --config /srv/broker/broker.toml
      agile keep reseal /srv/broker --pcr-values 7=HEX
      agile keep put secret.bin --policy snp-policy.toml --token-file /srv/broker/admin.token \\
          --broker https://127.0.0.1:8443 --broker-cert /srv/broker/tls/cert.pem
      agile keep request k-0123... --evidence sev-guest --output key.bin \\
          --broker https://127.0.0.1:8443 --broker-cert /srv/broker/tls/cert.pem
      agile keep tpm-policy --pcrs sha256:0,7 > tpm-policy.toml
    """


@keep.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8443,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port to listen on.",
)
@click.option(
    "--test-root",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this simulator ARK instead of AMD's roots. For tests and demonstrations only.",
)
@click.option(
    "--master-sealer",
    "sealer",
    type=click.Choice(list(SEALERS)),
    default="passphrase",
    show_default=True,
    help="Sealer that protects the broker's master key, set up by the sealer options below "
    "and their variables.",
)
@with_sealer_options
def init_command(
    directory: str,
    address: str,
    port: int,
    test_root: str | None,
    sealer: str,
    **sealer_options: Any,
) -> None:
    """Create a broker directory: config, TLS certificate, admin token and sealed master key.

    Every key stored at the broker is lost when its master key can no longer be
    unsealed.  A master key sealed to tpm2 alone is lost with a PCR change or a
    cleared TPM, so prefer an sss sealer with a tpm2 and a passphrase member.

    \b
    Examples:
      agile keep init /srv/broker --port 8443
      AGILE_PASSPHRASE='recovery words' agile keep init /srv/broker \\
          --master-sealer sss --sss-threshold 1 --sss-members tpm2,passphrase
    """
    options = _given(sealer_options)
    _check_sealer_options(options, sealer, None, context=f"--master-sealer is {sealer}")
    with sealer_environment(options):
        config = create_broker(
            directory, address=address, port=port, test_root=test_root, master_sealer=sealer
        )
    click.echo(f"created broker in {config.directory}")
    click.echo(f"  config:      {config.directory / 'broker.toml'}")
    click.echo(f"  certificate: {config.cert_path}")
    click.echo(f"  admin token: {config.token_path} (mode 0600)")


@keep.command("reseal")
@click.argument("directory", type=click.Path(exists=True))
@click.option(
    "--master-sealer",
    "sealer",
    type=click.Choice(list(SEALERS)),
    default=None,
    help="Sealer to use from now on (default: the current one, keeping its choices such as "
    "the PCR list).",
)
@with_sealer_options
def reseal_command(directory: str, sealer: str | None, **sealer_options: Any) -> None:
    """Seal the master key of the broker in DIRECTORY again, with new options or another sealer.

    The master key stays the same, so the stored keys stay readable, and a
    running broker needs no restart.  It is first unsealed with its current
    sealer: a master key sealed to tpm2 alone needs the PCR values it was
    sealed to, so reseal it with --pcr-values before a planned firmware or
    boot change.  The current PINs, TPM and token come from the variables
    (AGILE_TPM_PIN, AGILE_TPM_TCTI, AGILE_PKCS11_PIN, ...).  An option is used
    for opening too only when its variable is unset.

    \b
    Examples:
      agile keep reseal /srv/broker --pcr-values 7=HEX   # before a planned change of PCR 7
      AGILE_PASSPHRASE='recovery words' agile keep reseal /srv/broker \\
          --master-sealer sss --sss-threshold 1 --sss-members tpm2,passphrase
      AGILE_NEW_PASSPHRASE='new words' agile keep reseal /srv/broker   # change the passphrase
    """
    from agile.attest.broker import read_master_blob, reseal_master_key

    config = BrokerConfig.load(directory)
    blob = read_master_blob(config)
    target = sealer or str(blob["sealer"])
    options = _given(sealer_options)
    _check_sealer_options(
        options, target, blob, context=f"the master key is sealed with {target} from now on"
    )
    subject = f"the master key of the broker in {config.directory}"
    new_passphrase = new_passphrase_for(target, options, blob, subject=subject)

    def seal(current: SealedBlob, associated_data: bytes, secret: bytes) -> SealedBlob:
        return seal_again(current, associated_data, secret, target, options, new_passphrase)

    with opening_environment(options):
        new_blob = reseal_master_key(config, seal)
    click.echo(f"resealed {subject} with {target}{pcr_note(blob, new_blob, options)}")


def _given(sealer_options: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in sealer_options.items() if value is not None}


def _check_sealer_options(
    options: dict[str, Any], target: str, current: SealedBlob | None, *, context: str
) -> None:
    """Reject options of sealers that neither seal (``target``) nor open (``current``) the key.

    Reject an empty --tpm-pin too.
    """
    from agile.seal.sss import MEMBERS_ENV, check_distinct_members, member_names

    reject_empty_pin(options)
    members = member_names(options, current or {}) if target == "sss" else []
    if target == "sss":
        check_distinct_members(options.get("sss_members") or os.environ.get(MEMBERS_ENV) or None)
        if not members:
            # No members named yet: the sss sealer itself rejects that when it seals.
            return
    if current is not None:
        # The current sealers read their options too, when their variables are unset.
        members.append(str(current.get("sealer")))
        members += [str(m.get("sealer")) for m in current.get("members", []) if isinstance(m, dict)]
    others = [name for name in dict.fromkeys(members) if name != target]
    reject_unused_options(
        options, target, others, context=context, remedy="pass --master-sealer {sealer}"
    )


@keep.command("serve")
@click.option(
    "--config",
    "config_file",
    required=True,
    type=click.Path(exists=True),
    help="broker.toml, or the broker directory.",
)
def serve_command(config_file: str) -> None:
    """Serve key releases over TLS until interrupted.

    \b
    Example:
      agile keep serve --config /srv/broker/broker.toml
    """
    config = BrokerConfig.load(config_file)
    server = BrokerServer(KeyBroker(config))
    click.echo(f"agile keep broker listening on {server.url}", err=True)
    log.info("broker listening on %s", server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("broker on %s stopped", server.url)


@keep.command("put")
@click.argument("secret_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--policy",
    "policy_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Attestation policy (TOML or JSON) that a requester's evidence must meet.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False),
    help="The broker's admin.token (default: $AGILE_KEEP_TOKEN).",
)
@_broker_option
@_cert_option
@json_option
def put_command(
    secret_file: str,
    policy_file: str,
    token_file: str | None,
    broker: str,
    broker_cert: str,
    as_json: bool,
) -> None:
    """Store the bytes of SECRET_FILE at the broker under a policy and print the key id.

    \b
    Example:
      agile keep put secret.bin --policy snp-policy.toml --token-file /srv/broker/admin.token \\
          --broker https://127.0.0.1:8443 --broker-cert /srv/broker/tls/cert.pem
    """
    token = (
        Path(token_file).read_text().strip() if token_file else os.environ.get("AGILE_KEEP_TOKEN")
    )
    policy = load_policy(policy_file)
    with open(secret_file, "rb") as stream:
        # Bounded: the broker takes at most 4096 bytes, and /dev/zero must not hang here.
        secret = stream.read(_MAX_SECRET_READ + 1)
    if len(secret) > _MAX_SECRET_READ:
        raise InvalidArgument(
            f"secret file {secret_file!r} is larger than {_MAX_SECRET_READ} bytes",
            fix="store a key of at most 4096 bytes, and wrap larger data with it",
        )
    key_id = BrokerClient(broker, broker_cert, token=token).put_key(secret, policy)
    if as_json:
        emit_json({"key_id": key_id, "policy_sha256": policy.sha256})
    else:
        click.echo(key_id)


@keep.command("request")
@click.argument("key_id")
@click.option(
    "--evidence",
    envvar="AGILE_KEEP_EVIDENCE",
    default="sev-guest",
    show_default=True,
    help="Evidence source: sev-guest (needs an SNP guest), simulator:DIR (tests) or "
    "tpm:BANK:PCRS with the TPM from $AGILE_TPM_TCTI.",
)
@click.option(
    "--kem",
    type=click.Choice(RELEASE_KEMS),
    default="x-wing",
    show_default=True,
    help="KEM that the broker encrypts the released key to (a fresh key pair per request).",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="File that receives the released key, created with mode 0600.",
)
@_broker_option
@_cert_option
@json_option
def request_command(
    key_id: str, evidence: str, kem: str, output: str, broker: str, broker_cert: str, as_json: bool
) -> None:
    """Request KEY_ID from the broker with this platform's evidence and write it to --output.

    \b
    Example:
      agile keep request 3f2a9c0d1b7e4a55 --output secret.bin \\
          --broker https://127.0.0.1:8443 --broker-cert /srv/broker/tls/cert.pem
    """
    from agile.seal.keep import evidence_source

    if as_json and descriptor_of(output) == 1:
        raise InvalidArgument(
            f"--output {output} and --json both write to standard output",
            fix="write the released key to a file with --output FILE",
        )
    source = evidence_source(evidence)
    secret = BrokerClient(broker, broker_cert).release(key_id, source, kem=kem)
    atomic_write(output, secret)
    if as_json:
        emit_json({"key_id": key_id, "output": output, "bytes": len(secret)})
    else:
        echo_status(f"released {key_id}: {len(secret)} bytes written to {output}", output)


@keep.command("tpm-policy")
@click.option(
    "--pcrs",
    default="sha256:0,7",
    show_default=True,
    metavar="BANK:LIST",
    help="PCR bank and PCRs the policy expects, at their current values.",
)
@click.option(
    "--tpm-tcti",
    "tcti",
    metavar="TCTI",
    default=None,
    help="TPM to read (default: $AGILE_TPM_TCTI, else device:/dev/tpmrm0).",
)
def tpm_policy_command(pcrs: str, tcti: str | None) -> None:
    """Print a [tpm] policy table for this TPM: its attestation key and current PCR values.

    Run it on the workload's machine in the state that should receive keys, check
    the values, and use the table in the policy given to 'agile keep put' or to
    the keep sealer.

    \b
    Example:
      agile keep tpm-policy --pcrs sha256:0,7 > tpm-policy.toml
    """
    import hashlib

    from cryptography.hazmat.primitives import serialization

    from agile.attest.tpm_quote import TpmQuoteEvidence

    source = TpmQuoteEvidence(tcti=tcti, pcrs=pcrs)
    key = serialization.load_pem_public_key(source.ak_public_pem())
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    values = source.current_pcrs()
    listed = ", ".join(f'{index} = "{value.hex()}"' for index, value in values.items())
    click.echo("[tpm]")
    click.echo(f'ak_spki_sha256 = ["{hashlib.sha256(spki).hexdigest()}"]')
    click.echo(f'pcr_bank = "{source.selection.bank}"')
    click.echo(f"pcrs = {{ {listed} }}")


@keep.group("simulator")
def simulator() -> None:
    """Manage a software AMD-SP for tests and demonstrations (its evidence proves nothing)."""


@simulator.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def simulator_init(directory: str) -> None:
    """Create a simulated AMD-SP (test ARK, ASK and VCEK) in DIRECTORY.

    \b
    Example:
      agile keep simulator init ./amd-sp && agile keep init ./broker --test-root ./amd-sp/ark.pem
    """
    from agile.attest.simulator import SimulatedAmdSp

    if Path(directory).exists() and any(Path(directory).iterdir()):
        raise InvalidArgument(f"{directory!r} is not empty", fix="choose a new directory")
    SimulatedAmdSp().save(directory)
    click.echo(f"created a simulated AMD-SP in {directory}; its test root is {directory}/ark.pem")
