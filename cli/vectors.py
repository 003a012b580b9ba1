"""``agile vectors run``: conformance against public standard test vectors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from agile import conformance
from agile.errors import AgileError

from .common import emit_json, json_option


@click.group()
def vectors() -> None:
    """Check providers against Wycheproof, NIST ACVP, HPKE, X-Wing and CCTV vectors.

    \b
    Examples:
      agile vectors run ../shared/vectors --workers 2
      agile vectors run ../shared/vectors --junit vectors.xml
    """


@vectors.command("run")
# Paths stay text, because click would turn an empty path into Path("."), the current folder.
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="Only this provider (repeatable).",
)
@click.option(
    "--algorithm",
    "algorithms",
    multiple=True,
    metavar="ID",
    help="Only this algorithm id (repeatable).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes (default: the number of CPUs).",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write JUnit XML to this file.",
)
@json_option
def run(
    paths: tuple[str, ...],
    providers: tuple[str, ...],
    algorithms: tuple[str, ...],
    workers: int | None,
    junit: Path | None,
    as_json: bool,
) -> None:
    """Run vector files or folders (default: the project's own vectors/).

    Exit code 0 when cases ran and none failed, 1 when any failed, 2 on bad
    input: a missing path, a damaged vector file, or a run in which every case
    was skipped or no case matched --provider and --algorithm.

    A file reached twice (named twice, or through a symlink) runs once. In
    folders, hidden files and folders and symlinks to folders are listed as
    skipped, not read. Name one as a path to run it.

    \b
    Examples:
      agile vectors run ../shared/vectors --json
      agile vectors run wycheproof/testvectors_v1/aes_gcm_test.json --provider openssl
      agile vectors run ../shared/vectors --algorithm ml-kem-768 --junit report.xml
    """
    if junit is not None and not junit.parent.is_dir():
        # Checked before the run, which can take minutes, and named as given, not as a temporary.
        raise AgileError(
            f"the folder of --junit file {str(junit)!r} does not exist",
            fix=f"create {str(junit.parent)!r} first, or choose another path",
        )
    targets: list[str] | list[Path] = list(paths) or conformance.default_paths()
    if not targets:
        raise AgileError(
            "no vector paths given and the project's vectors/ folder was not found",
            fix="pass a file or folder, for example: agile vectors run ../shared/vectors",
        )
    report = conformance.run(
        targets,
        providers=providers or None,
        algorithms=algorithms or None,
        workers=workers or os.cpu_count() or 1,
    )
    total = report.totals()
    checked = total.passed + total.failed + total.acceptable
    if not checked and not any(item.tables for item in report.files):
        # Nothing was checked: a wrong path or filter must not pass a CI job, and
        # neither must a run whose every case was skipped.
        shown_paths = ", ".join(str(target) for target in targets[:3])
        reasons = sorted({item.skipped_reason for item in report.files if item.skipped_reason})
        skip_summary = ""
        if reasons:
            skip_summary = f"; {len(report.files)} files skipped: {'; '.join(reasons[:2])}"
        if total.skipped:
            case_reasons = [reason for reason, _count in total.skip_reasons.most_common(2)]
            skip_summary += f"; {total.skipped} cases skipped: {'; '.join(case_reasons)}"
        raise AgileError(
            f"no test vector case ran from {shown_paths}{skip_summary}",
            fix="pass a folder or file of Wycheproof, ACVP, HPKE, X-Wing or CCTV vectors, and "
            "check --provider and --algorithm",
        )
    if junit:
        from agile.fsio import atomic_write

        atomic_write(junit, report.to_junit(), mode=0o644)
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_summary(report)
    sys.exit(1 if report.failed else 0)


def _print_summary(report: conformance.Report) -> None:
    click.echo(
        f"{'file / algorithm':58} {'provider':10} {'pass':>7} {'fail':>5} {'skip':>6} {'accept':>6}"
    )
    for file_report in report.files:
        click.echo(file_report.path)
        if file_report.skipped_reason and not file_report.tallies:
            click.echo(f"  skipped: {file_report.skipped_reason}")
        for (algorithm, provider), tally in sorted(file_report.tallies.items()):
            click.echo(
                f"  {algorithm:56} {provider:10} {tally.passed:7} {tally.failed:5} "
                f"{tally.skipped:6} {tally.acceptable:6}"
            )
            shown = tally.skip_reasons.most_common(3)
            for reason, count in shown:
                click.echo(f"      skipped {count}: {reason}")
            others = len(tally.skip_reasons) - len(shown)
            if others:
                rest = tally.skipped - sum(count for _, count in shown)
                click.echo(f"      skipped {rest}: {others} other reasons (--json lists them all)")
            for failure in tally.failures[:5]:
                click.echo(f"      FAILED {failure.case}: {failure.reason}")
    total = report.totals()
    click.echo(
        "\nproviders: "
        + ", ".join(
            f"{name} {tally.passed} passed/{tally.failed} failed"
            for name, tally in report.by_provider().items()
            # "-" counts cases skipped before any provider was chosen. The totals include them.
            if name != "-"
        )
    )
    click.echo(
        f"{total.passed} passed, {total.failed} failed, {total.skipped} skipped, "
        f"{total.acceptable} acceptable in {report.seconds:.1f} s"
    )
