"""``agile mpc``: secure aggregation among parties over mutual TLS."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import emit_json, json_option

if TYPE_CHECKING:
    from mpc.config import PartyConfig

__all__ = ["mpc"]

#: Longest accepted --timeout: one day.
MAX_TIMEOUT = 86_400.0


class _Seconds(click.ParamType):
    """A finite number of seconds in (0, MAX_TIMEOUT]; click's FloatRange lets nan through."""

    name = "seconds"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(str(value))
            except ValueError:
                self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not (math.isfinite(number) and 0 < number <= MAX_TIMEOUT):
            self.fail(
                f"{value!r} is not a number of seconds from above 0 to {MAX_TIMEOUT:g}",
                param,
                ctx,
            )
        return number


SECONDS = _Seconds()

_parent_pipe_option = click.option(
    "--parent-pipe",
    type=click.IntRange(min=0),
    default=None,
    hidden=True,
    metavar="FD",
    help="Set by 'agile mpc local': the read end of a pipe from it.  At its end-of-file this "
    "process deletes its key files and exits, and it deletes them once loaded.",
)


def _watch_parent(parent_pipe: int | None, config: PartyConfig) -> None:
    if parent_pipe is not None:
        from mpc.local import watch_parent

        watch_parent(parent_pipe, config)


def _release_keys(parent_pipe: int | None, config: PartyConfig) -> None:
    """Delete the key files of a child of 'agile mpc local', whose deployment is temporary."""
    if parent_pipe is not None:
        from mpc.local import remove_key_files

        remove_key_files(config)


@click.group()
def mpc() -> None:
    """Compute sums and means over private inputs of several parties (Shamir shares, TLS).

    \b
    Examples:
      agile mpc local --parties 3 --inputs a.csv b.csv c.csv --operation sum
      agile mpc init --parties 3 --dir deploy
      agile mpc party --config deploy/party-1.json --input a.csv --operation mean
    """


@mpc.command()
@click.option("--parties", "count", type=int, required=True, help="Number of parties (2-255).")
@click.option(
    "-t",
    "--threshold",
    type=int,
    default=None,
    help="Shares needed to open a result (default: floor((n-1)/2) + 1, an honest majority).",
)
@click.option(
    "--dir", "directory", required=True, metavar="DIR", help="New directory for keys and configs."
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address every party binds to."
)
@click.option(
    "--dealer", is_flag=True, help="Also create dealer.json for a Beaver-triple dealer (variance)."
)
@click.option(
    "--base-port",
    type=int,
    default=47100,
    show_default=True,
    help="Party i listens on base-port + i; from 1024 to 65535 minus the number of parties.",
)
def init(
    count: int, threshold: int | None, directory: str, host: str, dealer: bool, base_port: int
) -> None:
    """Create a CA, party certificates, X-Wing keys and one config per party.

    When the parties run on different machines, edit the host and port of each
    party in every config file, because all parties need the same party list.

    \b
    Example:
      agile mpc init --parties 5 -t 3 --dir deploy --host 127.0.0.1
    """
    from mpc.deployment import create_deployment
    from mpc.local import default_threshold

    threshold = threshold if threshold is not None else default_threshold(count)
    paths = create_deployment(
        directory, count, threshold, host=host, base_port=base_port, dealer=dealer
    )
    for path in paths:
        click.echo(path)
    if dealer:
        click.echo(Path(directory) / "dealer.json")


@mpc.command()
@click.option("--config", "config_path", required=True, metavar="FILE", help="This party's config.")
@click.option("--input", "input_path", required=True, metavar="CSV", help="This party's integers.")
@click.option(
    "--operation",
    type=click.Choice(["sum", "mean", "count", "total", "variance"]),
    default="sum",
    show_default=True,
    help="What to compute and open.",
)
@click.option(
    "--timeout",
    type=SECONDS,
    default=120.0,
    show_default=True,
    help="Seconds to wait for peers to connect and for each round.",
)
@click.option(
    "--timing",
    is_flag=True,
    help="Print 'elapsed WALL cpu CPU' on stderr: the wall-clock and CPU seconds of this "
    "party from connection to output.",
)
@click.option(
    "--drop-after-sharing",
    is_flag=True,
    hidden=True,
    help="Leave right after sharing the input, as a crashed party would (for tests).",
)
@_parent_pipe_option
@json_option
def party(
    config_path: str,
    input_path: str,
    operation: str,
    timeout: float,
    timing: bool,
    drop_after_sharing: bool,
    parent_pipe: int | None,
    as_json: bool,
) -> None:
    """Run one party until the result is opened, and print it, one value per line.

    \b
    Example:
      agile mpc party --config deploy/party-2.json --input b.csv --operation sum
    """
    import asyncio

    from mpc.config import load_config
    from mpc.party import Party
    from mpc.protocols import read_integers

    config = load_config(config_path)
    _watch_parent(parent_pipe, config)
    # Party() reads every key file, so a child of 'mpc local' may delete them right after.
    runner = Party(config, connect_timeout=timeout, round_timeout=timeout)
    _release_keys(parent_pipe, config)
    values = read_integers(input_path)
    result = asyncio.run(runner.run(values, operation, drop_after_sharing=drop_after_sharing))
    if result is None:
        return
    if timing:
        click.echo(f"elapsed {result.elapsed:.6f} cpu {result.cpu:.6f}", err=True)
    if as_json:
        emit_json(
            {"operation": operation, "outputs": result.outputs, "parties": result.contributors}
        )
        return
    # No outputs (an empty vector summed) print nothing rather than one blank line.
    if result.outputs:
        click.echo("\n".join(result.outputs))


@mpc.command()
@click.option(
    "--parties", "count", type=int, default=None, help="Number of parties (default: one per input)."
)
@click.option(
    "--inputs",
    "inputs",
    multiple=True,
    required=True,
    metavar="CSV",
    help="One CSV file of integers per party; repeat, or list several after one flag.",
)
@click.option(
    "--operation",
    type=click.Choice(["sum", "mean", "count", "total", "variance"]),
    default="sum",
    show_default=True,
    help="What to compute and open.",
)
@click.option(
    "-t",
    "--threshold",
    type=int,
    default=None,
    help="Shares needed to open a result (default: an honest majority).",
)
@click.option(
    "--timeout", type=SECONDS, default=120.0, show_default=True, help="Seconds per round."
)
@click.option(
    "--timing",
    is_flag=True,
    help="Print 'elapsed S1 S2 ...' on stderr: each party's wall-clock seconds from connection "
    "to output, in party order; --json adds them as 'elapsed'.",
)
@click.option(
    "--base-port",
    type=int,
    default=None,
    help="Party i listens on 127.0.0.1 port BASE+i; from 1024 to 65535 minus the number of "
    "parties (default: ports that are free at the start).",
)
@click.argument("more_inputs", nargs=-1, metavar="[CSV...]")
@json_option
def local(
    count: int | None,
    inputs: tuple[str, ...],
    operation: str,
    threshold: int | None,
    timeout: float,
    timing: bool,
    base_port: int | None,
    more_inputs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Start one party process per input on 127.0.0.1 and print the results, one per line.

    \b
    Examples:
      agile mpc local --parties 3 --inputs a.csv b.csv c.csv --operation sum
      agile mpc local --base-port 17100 --inputs a.csv b.csv c.csv
    """
    from mpc.local import run_local

    files = [*inputs, *more_inputs]
    for name in files:
        if not Path(name).is_file():
            problem = "is not a file" if Path(name).exists() else "not found"
            raise click.BadParameter(f"input file {name!r} {problem}", param_hint="--inputs")
    logging.getLogger("agile.mpc").debug("running %d parties", len(files))
    run = run_local(
        files,
        operation,
        parties=count,
        threshold=threshold,
        timeout=timeout,
        base_port=base_port,
    )
    if timing:
        click.echo("elapsed " + " ".join(f"{value:.6f}" for value in run.elapsed), err=True)
    if as_json:
        emit_json({"operation": operation, "outputs": run.outputs, "elapsed": run.elapsed})
        return
    if run.outputs:
        click.echo("\n".join(run.outputs))


@mpc.command()
@click.option("--config", "config_path", required=True, metavar="FILE", help="The dealer.json.")
@click.option(
    "--length",
    type=int,
    required=True,
    help="Number of triples: at least the length of every party's input (extra ones are unused).",
)
@click.option(
    "--timeout", type=SECONDS, default=120.0, show_default=True, help="Seconds to wait for parties."
)
@_parent_pipe_option
def dealer(config_path: str, length: int, timeout: float, parent_pipe: int | None) -> None:
    """Send Beaver triples to every party (needed by --operation variance), then exit.

    The dealer is trusted: it could learn the inputs of multiplications.  It
    sends to each party on its own and exits 0 when at least threshold parties
    received their triples.  A party it cannot reach within --timeout is
    logged as a warning.

    \b
    Example:
      agile mpc dealer --config deploy/dealer.json --length 10000
    """
    import asyncio

    from mpc.config import load_config
    from mpc.dealer import Dealer

    config = load_config(config_path)
    _watch_parent(parent_pipe, config)
    runner = Dealer(config, connect_timeout=timeout, send_timeout=timeout)
    _release_keys(parent_pipe, config)
    asyncio.run(runner.deal(length))
