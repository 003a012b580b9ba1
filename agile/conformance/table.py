"""Render a conformance report (the JSON of ``agile vectors run --json``) as Markdown tables.

Usage: ``agile vectors run ../shared/vectors --json > report.json`` then
``python -m agile.conformance.table report.json``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["render"]


def _source(path: str) -> str:
    """Return the path from the vector set's top folder on (``wycheproof/...``)."""
    parts = Path(path).parts
    for anchor in ("vectors", "cryptography_vectors"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + 1 :])
    return path


def render(report: dict[str, Any]) -> str:
    lines = [
        f"Totals: {report['passed']} passed, {report['failed']} failed, "
        f"{report['skipped']} skipped, {report['acceptable']} acceptable "
        f"({report['seconds']} s).",
        "",
        "| provider | passed | failed | skipped | acceptable |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, counts in report["providers"].items():
        lines.append(
            f"| {name} | {counts['passed']} | {counts['failed']} | {counts['skipped']} "
            f"| {counts['acceptable']} |"
        )
    lines += [
        "",
        "| file | algorithm | provider | passed | failed | skipped | acceptable |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    reasons: dict[str, int] = defaultdict(int)
    for file_report in report["files"]:
        source = _source(file_report["path"])
        if not file_report["results"]:
            lines.append(f"| {source} | | | | | | ({file_report['skipped_reason']}) |")
            continue
        for row in file_report["results"]:
            lines.append(
                f"| {source} | {row['algorithm']} | {row['provider']} | {row['passed']} "
                f"| {row['failed']} | {row['skipped']} | {row['acceptable']} |"
            )
            for reason, count in row["skip_reasons"].items():
                reasons[reason] += count
    lines += ["", "Skip reasons:", ""]
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        lines.append(f"- {count} × {reason}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    name = arguments[0] if arguments else "standard input"
    try:
        source = Path(arguments[0]).read_text() if arguments else sys.stdin.read()
        text = render(json.loads(source))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        detail = f"missing key {error}" if isinstance(error, KeyError) else str(error)
        sys.stderr.write(
            f"error: {name} is not a readable report of 'agile vectors run --json' ({detail}); "
            "write one with: agile vectors run PATH --json > report.json\n"
        )
        sys.exit(2)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
