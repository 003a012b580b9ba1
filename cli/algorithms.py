"""``agile algorithms``: list the registry."""

from __future__ import annotations

import click

from agile import registry
from agile.registry import Family

from .common import emit_json, json_option


@click.command()
@click.option(
    "--family",
    type=click.Choice([family.value for family in Family]),
    help="Only this family.",
)
@json_option
def algorithms(family: str | None, as_json: bool) -> None:
    """List algorithm ids with their strength and the providers usable on this machine.

    \b
    Examples:
      agile algorithms
      agile algorithms --family signature --json
    """
    rows = []
    installed: list[list[str]] = []
    for descriptor in registry.descriptors(family):
        usable = registry.providers_for(descriptor.id)
        row = descriptor.to_dict()
        row["providers"] = usable
        rows.append(row)
        installed.append(usable)
    if as_json:
        emit_json(rows)
        return
    click.echo(f"{'id':26} {'family':15} {'cat':>3}  {'pq':3} providers")
    for row, names in zip(rows, installed, strict=True):
        category = "-" if row["category"] is None else str(row["category"])
        quantum = "yes" if row["quantum_safe"] else "no"
        providers = ", ".join(names) or "(none installed)"
        click.echo(f"{row['id']:26} {row['family']:15} {category:>3}  {quantum:3} {providers}")
