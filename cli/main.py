"""The ``agile`` command: a thin layer that parses, calls the library and formats output.

Subcommands load lazily (see :data:`COMMANDS`) so that start-up stays short.
Errors derived from :class:`agile.errors.AgileError` print one line and exit with
the error's code: 2 for bad input, 1 for a failed check.  ``--verbose`` shows
the traceback. Usage errors from click print one line too, and exit with code 2.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from agile import __version__
from agile.errors import AgileError

from .common import keystore_option

#: Command name -> "module:attribute" of its click command or group.
COMMANDS: dict[str, str] = {
    "algorithms": "cli.algorithms:algorithms",
    "keyset": "cli.keyset:keyset",
    "encrypt": "cli.envelope:encrypt",
    "decrypt": "cli.envelope:decrypt",
    "sign": "cli.envelope:sign",
    "verify": "cli.envelope:verify",
    "inspect": "cli.envelope:inspect",
    "rotate": "cli.rotate:rotate",
    "store": "cli.store:store",
    "keystore": "cli.keystore:keystore",
    "policy": "cli.policy:policy",
    "vectors": "cli.vectors:vectors",
    "share": "cli.share:share",
    "clevis": "cli.clevis:clevis",
    "mpc": "cli.mpc:mpc",
    "he": "cli.he:he",
    "attest": "cli.attest:attest",
    "keep": "cli.keep:keep",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module_name, attribute = COMMANDS[name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                # A command whose module is absent from this install is unknown, and
                # 'agile --help' still lists the others. A missing dependency still raises.
                if error.name != module_name:
                    raise
                return None
            return getattr(module, attribute)
        return super().get_command(ctx, name)


def _one_line(text: str) -> str:
    """Return ``text`` with its line breaks and tabs collapsed to single spaces."""
    return " ".join(text.split())


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agile")
@click.option("-v", "--verbose", is_flag=True, help="Log details and show tracebacks of errors.")
@keystore_option
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """agile: move keys and protected data to post-quantum cryptography by policy.

    \b
    Examples:
      agile algorithms --family kem
      agile policy explain --policy pq-hybrid --operation encrypt --algorithm x25519
      agile rotate --policy pq-hybrid --dry-run
    """
    ctx.ensure_object(dict)["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> None:
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="agile", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort as abort:
        # click turns every EOFError into Abort, also one raised by a reader of a cut file.
        if isinstance(abort.__cause__, EOFError):
            reason = str(abort.__cause__) or "end of input"
            click.echo(
                f"agile: error: input ended early: {reason} (check that the file is complete)",
                err=True,
            )
            sys.exit(2)
        click.echo("agile: aborted", err=True)
        sys.exit(130)
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx else "agile"
        click.echo(
            f"agile: error: {_one_line(error.format_message())} (see '{command} --help')",
            err=True,
        )
        sys.exit(2)
    except click.ClickException as error:
        click.echo(f"agile: error: {_one_line(error.format_message())}", err=True)
        sys.exit(2 if error.exit_code not in (0, 1) else error.exit_code)
    except AgileError as error:
        if verbose:
            raise
        click.echo(f"agile: error: {error.diagnostics()}", err=True)
        sys.exit(error.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as error:
        if verbose:
            raise
        name = f" {error.filename!r}" if error.filename else ""
        click.echo(f"agile: error: {error.strerror or error}{name}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if verbose:
            raise
        click.echo(
            f"agile: internal error: {type(error).__name__}: {error} "
            "(rerun with --verbose for the traceback, and please report it)",
            err=True,
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
