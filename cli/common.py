"""Options and output helpers shared by the ``agile`` commands."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import click

from agile.errors import InvalidArgument
from agile.fsio import descriptor_of

__all__ = [
    "keystore_option",
    "policy_option",
    "json_option",
    "keystore_path",
    "check_output_path",
    "is_special_file",
    "resolve_output",
    "check_distinct",
    "emit_json",
    "echo_error",
    "echo_status",
    "plural",
    "is_terminal",
]


def _store_keystore(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        if not value.strip():
            # An empty --keystore "$UNSET" must not silently select the default keystore.
            raise click.BadParameter(
                "the keystore path is empty (pass a directory, or leave out --keystore to use "
                "$AGILE_HOME or the user data directory)",
                ctx=ctx,
                param_hint="'--keystore'",
            )
        # Subcommands share their parent's ctx.obj, so a --keystore before the subcommand
        # is already stored here when the subcommand's own --keystore arrives.
        chosen = ctx.ensure_object(dict)
        earlier = chosen.get("keystore")
        if earlier is not None and not _same_directory(earlier, value):
            raise click.UsageError(
                f"--keystore is given twice with different directories, {earlier!r} and "
                f"{value!r} (pass --keystore once, before or after the subcommand)",
                ctx=ctx,
            )
        chosen["keystore"] = value
    return value


def _same_directory(first: str, second: str) -> bool:
    """Return whether two --keystore values name one directory, which need not exist yet."""
    if first == second:
        return True
    return Path(first).expanduser().resolve() == Path(second).expanduser().resolve()


_KEYSTORE_OPTION: dict[str, Any] = {
    "metavar": "DIR",
    "default": None,
    "expose_value": False,
    "is_eager": True,
    "callback": _store_keystore,
    "help": "Keystore directory (default: $AGILE_HOME, else the user data directory).",
}

keystore_option = click.option("--keystore", **_KEYSTORE_OPTION)


def with_keystore_option(command: click.Command) -> click.Command:
    """Give ``command`` and every command below it a ``--keystore`` option, once.

    So ``agile store list --keystore DIR`` works as ``agile --keystore DIR store list``.
    """
    if not any("--keystore" in param.opts for param in command.params):
        command.params.append(click.Option(["--keystore"], **_KEYSTORE_OPTION))
    if isinstance(command, click.Group):
        for child in command.commands.values():
            with_keystore_option(child)
    return command


policy_option = click.option(
    "--policy",
    "policy",
    metavar="NAME|FILE",
    default=None,
    help="Policy for this command: a built-in profile, base:module, a .toml or a .rego file "
    "(default: the keystore's active policy).",
)

json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON for programs (an error too: one JSON object on standard error).",
)


def keystore_path(ctx: click.Context | None = None) -> Path:
    """Return the keystore directory chosen by --keystore, $AGILE_HOME or the platform default."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    for context in (ctx, root):
        if context.obj and context.obj.get("keystore"):
            return Path(context.obj["keystore"]).expanduser()
    if os.environ.get("AGILE_HOME"):
        return Path(os.environ["AGILE_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("agile", appauthor=False))


def check_output_path(path: str, option: str = "-o") -> None:
    """Raise InvalidArgument when an output path cannot become a file, naming it (not a temporary).

    ``option`` is how the command takes the path: an option such as ``-o``, or an argument
    name such as ``FILE``.
    """
    phrase = f"with {option}" if option.startswith("-") else f"as {option}"
    if not path:
        raise InvalidArgument(
            "the output path is empty",
            fix="pass a file name with -o, or leave out -o to write to standard output"
            if option == "-o"
            else f"pass a file name {phrase}",
        )
    target = Path(path)
    if target.is_dir():
        raise InvalidArgument(f"output {path!r} is a directory", fix=f"pass a file path {phrase}")
    if not target.parent.is_dir():
        raise InvalidArgument(
            f"the folder of output {path!r} does not exist",
            fix=f"create {str(target.parent)!r} first, or choose another output path",
        )


def is_special_file(path: str) -> bool:
    """Return whether ``path`` exists, after symbolic links, as a device, pipe or socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def resolve_output(path: str) -> Path:
    """Return the file that ``path`` names, following symbolic links.

    An atomic write renames a temporary file over its target. Renaming over a link would
    replace the link and leave the file it names unchanged. A name of an open descriptor
    (``/dev/stdout``) stays as it is: the file behind it is written through the descriptor
    (see :func:`agile.fsio.descriptor_of`), not replaced.
    """
    if descriptor_of(path) is not None:
        return Path(path)
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def check_distinct(source: str, output: str | None) -> None:
    """Raise InvalidArgument when -o names the input file, which the output would replace.

    The output is renamed over its path at the end, so the input (a message, an envelope)
    would be lost, and a signature written over the message it signs proves nothing.
    """
    if output is None or output == "-" or source == "-":
        return
    with contextlib.suppress(OSError):
        if os.path.samefile(source, output):
            raise InvalidArgument(
                f"output {output!r} is the input file {source!r}",
                fix="choose another output path with -o, then rename it if you want to replace "
                "the input",
            )


def echo_status(message: str, output: str | os.PathLike[str] | None) -> None:
    """Print a status line about a written ``output``, on standard error when that is stdout.

    ``-o /dev/stdout`` (or ``/dev/fd/1``) sends the data to standard output, where a
    status line after it would become part of the data.
    """
    to_stdout = output is None or str(output) == "-" or descriptor_of(output) == 1
    click.echo(message, err=to_stdout)


def plural(count: int, noun: str) -> str:
    """Return "1 object" or "2 objects": ``count`` and ``noun`` with an s when not 1."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def echo_error(
    as_json: bool,
    kind: str,
    message: str,
    fix: str | None = None,
    *,
    exit_code: int,
    prefix: str = "agile: error: ",
    trace: str | None = None,
) -> None:
    """Print one error line on standard error: text, or with ``as_json`` one JSON object.

    The object is ``{"error": {"type", "message", "fix", "exit_code"}}``, where
    ``type`` names the error (usually the exception class), ``fix`` may be null,
    and ``exit_code`` is the status the command exits with; ``trace`` (the
    traceback that --verbose requests) adds ``traceback``.  The text line is
    ``PREFIX MESSAGE (FIX)``.  Fatal errors and the per-item errors of a command
    that goes on (such as an unreadable keyset file) share this format.
    """
    if as_json:
        error: dict[str, Any] = {
            "type": kind,
            "message": message,
            "fix": fix or None,
            "exit_code": exit_code,
        }
        if trace is not None:
            error["traceback"] = trace
        click.echo(json.dumps({"error": error}), err=True)
    else:
        hint = f" ({fix})" if fix else ""
        click.echo(f"{prefix}{message}{hint}", err=True)


def is_terminal() -> bool:
    return sys.stderr.isatty()
