"""``agile policy``: show, set, validate, explain and check policies."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agile.errors import InvalidArgument, KeystoreError
from agile.policy import (
    OPERATIONS,
    Finding,
    KeyMeta,
    Policy,
    active_policy,
    builtin_modules,
    builtin_profiles,
    check_keys,
    load_policy,
    set_active_policy,
)
from agile.policy.model import (
    PasswordKdfFinding,
    SealerFinding,
    check_password_kdfs,
    check_sealers,
)
from agile.policy.profile import ProfilePolicy

from .common import (
    emit_json,
    json_option,
    keystore_option,
    keystore_path,
    plural,
    policy_option,
)

if TYPE_CHECKING:
    from agile.keys.keystore import KeystoreScan

__all__ = ["policy"]


def _policy_for(spec: str | None) -> Policy:
    """Return the policy named by --policy, else the keystore's active one.

    --policy needs no keystore.  Without it a missing keystore raises
    :class:`KeystoreError`: showing the default policy for a mistyped path would
    hide the typo.
    """
    # An empty --policy (an unset shell variable) is rejected by load_policy, not
    # replaced by the keystore's policy.
    if spec is not None:
        return load_policy(spec)
    no_keystore_fix = (
        "check --keystore or AGILE_HOME, or pass --policy NAME|FILE to use a policy without "
        "a keystore"
    )
    return active_policy(_keystore_directory(no_keystore_fix))


def _keystore_directory(fix: str) -> Path:
    """Return the keystore directory, or raise :class:`KeystoreError` with ``fix`` if it is missing.

    The policy commands read only policy.json and the keyset files, so an
    existing directory without them is a keystore with the default policy and
    no keysets.
    """
    directory = keystore_path()
    if not directory.is_dir():
        raise KeystoreError(f"no keystore at {str(directory)!r}", fix=fix)
    return directory


def envelope_warnings(chosen: Policy) -> list[str]:
    """Return a warning when ``chosen`` denies the KDF that envelope format v1 needs.

    Format v1 derives every message key with HKDF-SHA256, so a policy that denies
    it for encrypt cannot write envelopes, and one that denies it for decrypt
    cannot read them.  Such a policy may still be meant for keys that never
    encrypt, so this is a warning and not an error.
    """
    from agile.envelope.encrypted import SCHEDULE_KDF

    denied = [
        operation
        for operation in ("encrypt", "decrypt")
        if not chosen.decide(operation, SCHEDULE_KDF).allowed
    ]
    if not denied:
        return []
    effect = {
        ("encrypt",): "no envelope can be written under it",
        ("decrypt",): "no envelope can be read under it",
        ("encrypt", "decrypt"): "no envelope can be written or read under it",
    }[tuple(denied)]
    fix = _kdf_fix(chosen, denied, SCHEDULE_KDF)
    return [
        f"policy {chosen.name!r} denies {' and '.join(denied)} with {SCHEDULE_KDF}, which "
        f"envelope format v1 derives its message keys with, so {effect}; {fix} unless the "
        "policy is for keys that never encrypt"
    ]


def _kdf_fix(chosen: Policy, denied: list[str], kdf: str) -> str:
    """Return how to let ``chosen`` run ``denied`` with ``kdf``, in the terms of its engine."""
    if not isinstance(chosen, ProfilePolicy):
        fix = (
            f'make the Rego module allow {" and ".join(denied)} when input.algorithm.id is "{kdf}"'
        )
        if len(denied) == 2:
            fix += " (allowing decrypt alone is enough to read old envelopes)"
        return fix

    rules = chosen.rules["kdf"]
    if kdf in rules.allowed:
        # Old use of an allowed id is always allowed, so a new-use constraint denies encrypt.
        failures = [reason for _rule, reason in rules.constraint_failures(kdf)]
        return f"relax the [kdf] rule that denies it ({'; '.join(failures)})"
    entry = rules.legacy_entry(kdf)
    if entry is not None and entry.until is not None and "decrypt" in denied:
        # The id is in decrypt_only (listed there or moved by demote), but its last day passed.
        fix = (
            f"set a later until date on the {kdf} entry of [kdf] decrypt_only (it ended on "
            f"{entry.until.isoformat()}) to read old envelopes"
        )
        if "encrypt" in denied:
            fix += f", and list {kdf} in [kdf] allowed to write new ones"
        return fix
    fix = f"list {kdf} in [kdf] allowed"
    if entry is None and "decrypt" in denied:
        fix += " (decrypt_only is enough to read old envelopes)"
    return fix


def _echo_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"agile: warning: {warning}", err=True)


def _parse_moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(
            f"invalid time {text!r}", fix="write a date (2027-06-30) or an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


@click.group()
def policy() -> None:
    """Show, set, validate, explain, check and list policies.

    A policy is a built-in profile (legacy, default, future, fips, pq-hybrid,
    pq-only), a profile with modules (default:pq, pq-hybrid:no-chacha), or a
    .toml or .rego file.

    \b
    Examples:
      agile policy show --policy pq-hybrid
      agile policy explain --policy pq-hybrid --operation encrypt --algorithm x25519
      agile policy set default:pq
    """


@policy.command()
@policy_option
@json_option
def show(policy: str | None, as_json: bool) -> None:
    """Print a policy's rules per purpose, its hash and its preferred algorithms.

    \b
    Examples:
      agile policy show
      agile policy show --policy fips --json
      agile policy show --policy default:pq:no-rsa
    """
    chosen = _policy_for(policy)
    data = chosen.to_dict()
    if as_json:
        emit_json(data)
        return

    click.echo(f"policy   {chosen.name}")
    click.echo(f"hash     {chosen.hash}")
    click.echo(f"engine   {data['engine']}  ({data['source']})")
    if data.get("description"):
        click.echo(f"about    {data['description']}")
    if "purposes" not in data:
        for purpose, algorithm in data["preferred"].items():
            click.echo(f"  {purpose:15} preferred {algorithm}")
        if chosen.verify_require_quantum_safe:
            click.echo("  verify needs a quantum-safe signature (verify_require_quantum_safe)")
        return
    for purpose, rules in data["purposes"].items():
        click.echo(f"[{purpose}]")
        # The preferred id is the first allowed one that meets the requirements, so it
        # need not be the first listed.
        click.echo(f"  preferred     {data['preferred'][purpose]}")
        click.echo(f"  allowed       {', '.join(rules['allowed'])}")
        for key in ("decrypt_only", "verify_only"):
            if rules.get(key):
                entries = [
                    entry["id"] + (f" (until {entry['until']})" if entry["until"] else "")
                    for entry in rules[key]
                ]
                click.echo(f"  {key:13} {', '.join(entries)}")
        limits = []
        if rules.get("min_category") is not None:
            limits.append(f"min_category {rules['min_category']}")
        if rules.get("require_quantum_safe"):
            limits.append("quantum-safe")
        if rules.get("require_hybrid"):
            limits.append("hybrid")
        if rules.get("max_key_age"):
            limits.append(f"max_key_age {rules['max_key_age']}")
        if limits:
            click.echo(f"  requires      {', '.join(limits)}")
        if rules.get("verify_require_quantum_safe"):
            click.echo("  verify needs  a quantum-safe signature (verify_require_quantum_safe)")


@policy.command(name="set")
@click.argument("spec", metavar="NAME|FILE")
@keystore_option
def set_(spec: str) -> None:
    """Validate a policy and store it as the keystore's active policy.

    A built-in profile is stored by name.  A file's text is copied into the
    keystore, so later edits to the file need another 'agile policy set'.
    A policy that denies hkdf-sha256, which envelope format v1 needs, is stored
    with a warning.

    \b
    Examples:
      agile policy set pq-hybrid
      agile policy set default:pq
      agile --keystore ./ks policy set ./our-policy.toml
    """
    from agile.keys import Keystore
    from agile.keys.audit import AuditLog
    from agile.policy.store import stored_policy_identity

    path = keystore_path()
    existed = (Path(path) / "keystore.json").is_file()
    # A bad NAME or FILE fails here, before a keystore is created.
    warnings = envelope_warnings(load_policy(spec))
    store = Keystore.open(path)
    if not existed:
        # Setting the policy first is a normal start, and a mistyped --keystore shows here.
        click.echo(f"created keystore {store.path}", err=True)
    # The writer lock checks that the audit log can record the change before it is saved.
    with store.lock():
        previous_name, previous_hash = stored_policy_identity(store.path)
        chosen = set_active_policy(store.path, spec)
        AuditLog(store.path).record(
            "policy-set",
            spec=spec,
            policy=chosen.name,
            policy_hash=chosen.hash,
            previous_policy=previous_name,
            previous_policy_hash=previous_hash,
        )
    click.echo(f"active policy of {store.path}: {chosen.name} ({chosen.hash})")
    _echo_warnings(warnings)


@policy.command()
@click.argument("file", metavar="FILE")
@json_option
def validate(file: str, as_json: bool) -> None:
    """Check a .toml or .rego policy; exit 0 if valid, 2 with the problem if not.

    A valid policy that denies hkdf-sha256, which envelope format v1 derives its
    message keys with, gets a warning (the "warnings" list in JSON) and exit 0.

    \b
    Examples:
      agile policy validate ./our-policy.toml
      agile policy validate ./pq-hybrid.rego --json
    """
    chosen = load_policy(file)
    warnings = envelope_warnings(chosen)
    if as_json:
        emit_json(
            {
                "valid": True,
                "policy": chosen.name,
                "policy_hash": chosen.hash,
                "warnings": warnings,
            }
        )
        return
    click.echo(f"valid: {chosen.name} ({chosen.hash})")
    _echo_warnings(warnings)


@policy.command()
@policy_option
@click.option(
    "--operation",
    required=True,
    type=click.Choice(OPERATIONS),
    help="Operation to decide on.",
)
@click.option(
    "--algorithm",
    required=True,
    metavar="ID",
    help="Algorithm id (or a sealer name for --operation seal).",
)
@click.option(
    "--at",
    "at",
    metavar="TIME",
    default=None,
    help="Decide as of this date or RFC 3339 time, UTC (default: now).",
)
@json_option
def explain(
    policy: str | None, operation: str, algorithm: str, at: str | None, as_json: bool
) -> None:
    """Say whether a policy allows an operation with an algorithm, and why.

    Exits 0 whether or not the operation is allowed: this command reports.

    \b
    Examples:
      agile policy explain --policy pq-hybrid --operation encrypt --algorithm x25519
      agile policy explain --policy pq-hybrid --operation decrypt --algorithm x25519 --json
      agile policy explain --policy fips --operation decrypt --algorithm rsa-oaep-2048 \\
        --at 2031-01-01
    """
    chosen = _policy_for(policy)
    decision = chosen.decide(operation, algorithm, now=_parse_moment(at))
    if as_json:
        emit_json(decision.to_dict())
        return
    verdict = "allowed" if decision.allowed else "denied"
    click.echo(f"{operation} with {algorithm}: {verdict} by policy {chosen.name} ({chosen.hash})")
    click.echo(f"  rules: {', '.join(decision.rules)}")
    for reason in decision.reasons:
        click.echo(f"  reason: {reason}")


def _keystore_contents(
    scan: KeystoreScan,
) -> tuple[list[KeyMeta], list[tuple[str, dict[str, Any]]]]:
    """Return the key metadata and ``(keyset name, sealed KEK)`` pairs of the readable keysets."""
    keys = [key.meta() for keyset in scan.keysets for key in keyset.keys]
    return keys, [(keyset.name, keyset.seal_blob) for keyset in scan.keysets]


def _sealer_line(finding: SealerFinding) -> str:
    return (
        f"keyset {finding.keyset} (sealer {'+'.join(finding.sealers)}): "
        + "; ".join(finding.reasons)
        + f"; {finding.fix}"
    )


def _password_kdf_line(finding: PasswordKdfFinding) -> str:
    return (
        f"keyset {finding.keyset} (password KDF {'+'.join(finding.password_kdfs)}): "
        + "; ".join(finding.reasons)
        + f"; {finding.fix}"
    )


def _finding_line(finding: Finding) -> str:
    where = f"{finding.keyset}/" if finding.keyset else ""
    return f"{where}{finding.key_id} ({finding.algorithm}, {finding.status}): " + "; ".join(
        finding.reasons
    )


@policy.command()
@policy_option
@keystore_option
@click.option(
    "--at", "at", metavar="TIME", default=None, help="Check as of this date or RFC 3339 time, UTC."
)
@json_option
def check(policy: str | None, at: str | None, as_json: bool) -> None:
    """List keys and keysets that violate the policy or are due for rotation; exit 1 if any.

    A keyset violates the policy when its key-encryption key is sealed with a
    sealer (or an sss member) that the policy's [seal] rule does not allow, or
    with a passphrase whose password KDF the [password-kdf] rule does not allow
    for encrypt, because new keys of the keyset are sealed under that KEK.
    A keyset file that cannot be read is listed with the reason and the fix,
    and gives exit code 1 too, while the other keysets are still checked.
    Stored objects are not read: 'agile rotate --dry-run' checks their
    payload and HPKE algorithms.

    \b
    Examples:
      agile policy check
      agile policy check --policy pq-hybrid --json
      agile --keystore ./ks policy check --policy default:no-rsa
    """
    from agile.keys import Keystore

    # A mistyped path must not pass this compliance check with "no keysets".  The words
    # are those of every other command that reads a keystore.
    directory = _keystore_directory(
        "check --keystore or AGILE_HOME, or create a keyset there with 'agile keyset create'"
    )
    chosen = load_policy(policy) if policy is not None else active_policy(directory)
    scan = Keystore(directory).scan()
    keys, seals = _keystore_contents(scan)
    moment = _parse_moment(at)
    findings = check_keys(chosen, keys, now=moment)
    sealer_findings = check_sealers(chosen, seals, now=moment)
    kdf_findings = check_password_kdfs(chosen, seals, now=moment)

    if as_json:
        emit_json(
            {
                "policy": chosen.name,
                "policy_hash": chosen.hash,
                "keystore": str(directory),
                "keys_checked": len(keys),
                "findings": [finding.to_dict() for finding in findings],
                "keysets_checked": len(seals),
                "sealer_findings": [finding.to_dict() for finding in sealer_findings],
                "password_kdf_findings": [finding.to_dict() for finding in kdf_findings],
                "unreadable": [
                    {"name": u.name, "file": str(u.file), "reason": u.reason, "fix": u.fix}
                    for u in scan.unreadable
                ],
            }
        )
    elif not seals and not scan.unreadable:
        click.echo(f"no keysets in {directory}")
    elif not findings and not sealer_findings and not kdf_findings and not scan.unreadable:
        click.echo(f"{len(keys)} keys comply with policy {chosen.name}")
    else:
        _print_findings(
            chosen, findings, sealer_findings, kdf_findings, scan, len(keys), len(seals)
        )
    if findings or sealer_findings or kdf_findings or scan.unreadable:
        sys.exit(1)


def _print_findings(
    chosen: Policy,
    findings: list[Finding],
    sealer_findings: list[SealerFinding],
    kdf_findings: list[PasswordKdfFinding],
    scan: KeystoreScan,
    key_count: int,
    keyset_count: int,
) -> None:
    for finding in findings:
        click.echo(_finding_line(finding))
    for sealer_finding in sealer_findings:
        click.echo(_sealer_line(sealer_finding))
    for kdf_finding in kdf_findings:
        click.echo(_password_kdf_line(kdf_finding))
    for unreadable in scan.unreadable:
        click.echo(f"keyset {unreadable.name}: {unreadable.reason}; {unreadable.fix}")
    if findings:
        click.echo(f"{len(findings)} of {key_count} keys need attention under policy {chosen.name}")
    if sealer_findings:
        click.echo(
            f"{len(sealer_findings)} of {keyset_count} keysets are sealed with a sealer "
            f"policy {chosen.name} does not allow"
        )
    if kdf_findings:
        click.echo(
            f"{len(kdf_findings)} of {keyset_count} keysets are sealed with a password KDF "
            f"policy {chosen.name} does not allow for new seals"
        )
    if not findings and not sealer_findings and not kdf_findings:
        checked = plural(key_count, "key")
        click.echo(f"readable keysets: {checked} checked, all comply with policy {chosen.name}")
    if scan.unreadable:
        click.echo(_unreadable_summary(len(scan.unreadable)))


def _unreadable_summary(count: int) -> str:
    its = "its" if count == 1 else "their"
    return f"{plural(count, 'keyset file')} could not be read, so {its} keys were not checked"


@policy.command(name="list")
@json_option
def list_(as_json: bool) -> None:
    """List the built-in profiles and the modules that combine with them.

    \b
    Examples:
      agile policy list
    """
    profiles: list[dict[str, Any]] = []
    for name in builtin_profiles():
        loaded = load_policy(name)
        profiles.append(
            {"name": name, "hash": loaded.hash, "description": loaded.to_dict()["description"]}
        )
    if as_json:
        emit_json({"profiles": profiles, "modules": builtin_modules()})
        return
    for row in profiles:
        click.echo(f"{row['name']:10} {row['description']}")
    click.echo("modules: " + ", ".join(builtin_modules()) + "  (use as PROFILE:MODULE)")
