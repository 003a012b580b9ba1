"""``agile attest``: verify attestation evidence offline."""

from __future__ import annotations

import datetime
import sys

import click

from agile.attest.certs import AMD_TRUST_ANCHORS, TrustAnchor
from agile.attest.policy import load_policy
from agile.attest.snp import verify_snp
from agile.attest.verdict import MalformedEvidence
from agile.errors import InvalidPolicy

from .common import emit_json, json_option

__all__ = ["attest"]


def parse_time(text: str | None) -> datetime.datetime | None:
    """Parse an ISO 8601 time; one without a zone is read as UTC."""
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time; write for example 2026-01-31T12:00:00Z",
            param_hint="--at",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


#: Largest report or certificate file read: an SNP report is 1184 bytes, a chain a few KiB.
MAX_INPUT_BYTES = 1 << 20


def read_input(path: str, kind: str) -> bytes:
    """Read at most :data:`MAX_INPUT_BYTES` of ``path``, so /dev/zero is an error, not a hang."""
    with open(path, "rb") as stream:
        data = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise MalformedEvidence(
            f"{kind} {path!r} is larger than {MAX_INPUT_BYTES} bytes",
            fix=f"pass the {kind} file itself, not a device or a stream",
        )
    return data


def trust_anchors(test_root: str | None) -> tuple[TrustAnchor, ...]:
    """Return AMD's pinned roots, or only the simulator root in ``test_root`` when given."""
    if test_root is None:
        return AMD_TRUST_ANCHORS
    from agile.attest.simulator import load_test_anchor

    return (load_test_anchor(read_input(test_root, "test root")),)


@click.group()
def attest() -> None:
    """Verify attestation evidence (AMD SEV-SNP reports).

    \b
    Examples:
      agile attest verify-snp report.bin --vcek vcek.pem --chain milan_cert_chain.pem
      agile attest verify-snp report.bin --vcek vcek.der --chain chain.pem \\
          --policy snp-policy.toml --at 2026-06-01T00:00:00Z --json
    """


@attest.command("verify-snp")
@click.argument("report", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--vcek",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="VCEK certificate of the chip (PEM or DER).",
)
@click.option(
    "--chain",
    type=click.Path(exists=True, dir_okay=False),
    help="ASK and ARK certificates in PEM, as AMD KDS serves /vcek/v1/PRODUCT/cert_chain. "
    "The ARK must match a pinned AMD root (Milan or Genoa).",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Attestation policy (TOML or JSON) with an [snp] table.",
)
@click.option(
    "--at",
    "at",
    metavar="TIME",
    help="Check certificate validity at this ISO 8601 time instead of now.",
)
@click.option(
    "--report-data",
    metavar="HEX",
    help="Expected REPORT_DATA (128 hex digits), for example a nonce binding.",
)
@click.option(
    "--test-root",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this simulator ARK (PEM) instead of AMD's roots. For tests only.",
)
@json_option
def verify_snp_command(
    report: str,
    vcek: str,
    chain: str | None,
    policy_file: str | None,
    at: str | None,
    report_data: str | None,
    test_root: str | None,
    as_json: bool,
) -> None:
    """Verify an SEV-SNP attestation report: exit 0 if valid, 1 if invalid with the reasons.

    \b
    Example:
      agile attest verify-snp report.bin --vcek vcek.pem --chain cert_chain.pem --json
    """
    if chain is None:
        raise click.UsageError(
            "missing --chain: without the ASK and ARK the VCEK cannot be traced to AMD's root. "
            "Pass --chain with the cert_chain file from AMD KDS for the chip's product"
        )
    expected_data = None
    if report_data is not None:
        try:
            expected_data = bytes.fromhex(report_data)
        except ValueError:
            raise click.BadParameter(
                f"{report_data!r} is not hex", param_hint="--report-data"
            ) from None
        if len(expected_data) != 64:
            raise click.BadParameter(
                f"REPORT_DATA is 64 bytes (128 hex digits), got {len(expected_data)}",
                param_hint="--report-data",
            )

    policy = None
    if policy_file is not None:
        policy = load_policy(policy_file).snp
        if policy is None:
            raise InvalidPolicy(
                f"policy {policy_file!r} has no [snp] table",
                fix="add an [snp] table with the allowed measurements",
            )

    verdict = verify_snp(
        read_input(report, "report"),
        read_input(vcek, "VCEK certificate"),
        read_input(chain, "certificate chain"),
        policy=policy,
        at=parse_time(at),
        anchors=trust_anchors(test_root),
        report_data=expected_data,
    )

    if as_json:
        emit_json(verdict.to_dict())
    else:
        facts = verdict.facts["report"]
        status = "valid" if verdict.valid else "INVALID"
        if test_root is not None:
            # A simulator's root proves nothing about real hardware.
            status += f" (checked against the test root {test_root}, not AMD's roots)"
        click.echo(f"{report}: {status}")
        click.echo(f"  root:        {verdict.facts['root'] or 'untrusted'}")
        click.echo(f"  measurement: {facts['measurement']}")
        click.echo(f"  report_data: {facts['report_data']}")
        click.echo(f"  policy:      {facts['policy']} {' '.join(facts['policy_flags'])}")
        tcb = " ".join(f"{name}={level}" for name, level in facts["reported_tcb"].items())
        click.echo(f"  tcb:         {tcb}")
        for reason in verdict.reasons:
            click.echo(f"  - {reason}")
    if not verdict.valid:
        sys.exit(1)
