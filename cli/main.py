"""The ``agile`` command: a thin layer that parses, calls the library and formats output.

Subcommands load lazily (see :data:`COMMANDS`) so that start-up stays short.
Errors derived from :class:`agile.errors.AgileError` print one line and exit with
the error's code: 2 for bad input, 1 for a failed check.  ``--verbose`` prints
the traceback before that line, with the same exit code. Usage errors from
click print one line too, and exit with code 2.  When the command line has
``--json``, the error is one JSON object on standard error instead, with the
same exit code (see :func:`_report`).

When the reader of standard output goes away (``agile algorithms | head -1``),
the command stops without a message and exits with 141, the status of a process
that SIGPIPE ended (128 + 13), as other Unix tools do.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import logging
import os
import select
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any, NoReturn

import click

from agile import __version__
from agile.errors import AgileError

from .common import echo_error, keystore_option, with_keystore_option

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

#: Commands that use a keystore: each of them, and each subcommand, takes --keystore.
_KEYSTORE_COMMANDS = frozenset(
    {"keyset", "encrypt", "decrypt", "sign", "verify", "rotate", "store", "keystore", "policy"}
    | {"share", "he"}
)


#: Exit status after standard output's reader went away: 128 + SIGPIPE, as a shell reports
#: a process that the signal ended (Python ignores SIGPIPE, so writes fail with EPIPE instead).
SIGPIPE_EXIT = 128 + 13


class _PipeClosed(Exception):
    """A write failed with EPIPE; carried past click, which would exit 1 on it."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _PastClick(BaseException):
    """Carries an EOFError or KeyboardInterrupt past click's main() to :func:`main`.

    click's main() prints an empty line on standard error before it turns
    either into Abort, which would break the JSON lines of --json.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


@contextlib.contextmanager
def _pipe_guard() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
        raise _PipeClosed(error) from error
    except (EOFError, KeyboardInterrupt) as error:
        raise _PastClick(error) from error


def _reader_gone(stream: Any) -> bool:
    """Return whether ``stream`` is a pipe or socket whose reading end is closed."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):
        return True  # No poll() (Windows): treat the failed write as a closed output.
    poller = select.poll()
    # POLLERR and POLLHUP are reported whatever is registered: a pipe without readers
    # gives POLLERR, a socket whose peer closed gives POLLHUP.
    poller.register(descriptor, select.POLLOUT)
    return any(mask & (select.POLLERR | select.POLLHUP) for _fd, mask in poller.poll(0))


def _from_epipe(error: BaseException) -> bool:
    """Return whether ``error`` or an exception it was raised from failed with EPIPE."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _PipeClosed) or (
            isinstance(current, OSError) and current.errno == errno.EPIPE
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _exit_if_output_closed(error: BaseException) -> None:
    """Exit quietly with :data:`SIGPIPE_EXIT` when ``error`` comes from a closed standard output.

    Following the note on SIGPIPE in the Python documentation of the signal module,
    standard output (and standard error, if its reader is gone too) is pointed at
    /dev/null first, so that the interpreter's final flush does not fail again.
    """
    if not _from_epipe(error) or not _reader_gone(sys.__stdout__):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is sys.__stdout__ or _reader_gone(stream):
            assert stream is not None
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    sys.exit(SIGPIPE_EXIT)


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used."""

    # click turns a failed write to a closed pipe into exit code 1 on its own, so both
    # steps of a run carry EPIPE past click to main(): parsing (help, version) and invoking.

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _pipe_guard():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _pipe_guard():
            return super().invoke(ctx)

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
            command: click.Command = getattr(module, attribute)
            return with_keystore_option(command) if name in _KEYSTORE_COMMANDS else command
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
    settings = ctx.ensure_object(dict)
    settings["verbose"] = verbose
    handler = logging.StreamHandler()
    # main() passes whether --json is on the command line; the option belongs to each subcommand.
    if settings.get("json"):
        handler.setFormatter(_JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])


class _JsonLogFormatter(logging.Formatter):
    """Format a log record as one JSON object, so that --json keeps standard error parseable.

    The object is ``{"log": {"level", "logger", "message"}}``, with the level in
    lower case (``warning``).  A record that carries an exception adds its
    traceback as ``traceback``.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps({"log": entry})


# Fixes for the file-system errors a command may meet on a path it was given.
_OS_FIXES = {
    errno.ENOENT: "check the path",
    errno.EACCES: "give this user access to it, or run as a user who has it",
    errno.EPERM: "give this user access to it, or run as a user who has it",
    errno.EISDIR: "give a file, not a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.ENAMETOOLONG: "use a shorter name (at most 255 bytes per path part)",
    errno.ENOSPC: "free some space on that file system",
    errno.EROFS: "write to a file system that is not read-only",
    errno.EEXIST: "remove it or choose another name",
}


def _traceback_if(verbose: bool, as_json: bool) -> str | None:
    """Print or return the traceback of the error being handled when ``--verbose`` is on.

    As text it is printed at once.  With ``as_json`` it is returned instead, so
    that the error object carries it and standard error stays one JSON object.
    """
    if not verbose:
        return None
    if as_json:
        return traceback.format_exc()
    traceback.print_exc()
    return None


def _wants_json(args: list[str]) -> bool:
    """Return whether ``--json`` appears among the options, that is before any ``--``."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def _report(
    as_json: bool,
    code: int,
    kind: str,
    message: str,
    fix: str | None = None,
    *,
    prefix: str = "agile: error: ",
    trace: str | None = None,
) -> NoReturn:
    """Print one error line on standard error and exit with ``code``.

    With ``as_json`` the line is a JSON object (see :func:`cli.common.echo_error`),
    so that a program that asked for JSON output can parse failures too.  Its
    ``type`` is the exception class (``KeyNotFound``, ``UsageError``,
    ``FileNotFoundError`` and so on), and ``trace`` (from --verbose) becomes its
    ``traceback``.  Standard output stays as the command left it.
    """
    echo_error(as_json, kind, message, fix, exit_code=code, prefix=prefix, trace=trace)
    sys.exit(code)


def _report_os_error(error: OSError, verbose: bool, as_json: bool) -> NoReturn:
    trace = _traceback_if(verbose, as_json)
    name = f" {error.filename!r}" if error.filename else ""
    message = f"{error.strerror or error}{name}"
    _report(as_json, 2, type(error).__name__, message, _OS_FIXES.get(error.errno or 0), trace=trace)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, raised in the main thread so that cleanup code runs first.

    Python's default action for these signals ends the process at once, which
    leaves the temporary file of ``decrypt -o`` behind, holding plaintext.
    A BaseException, as KeyboardInterrupt is, so that ``except Exception`` does
    not stop it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _on_termination(signum: int, _frame: FrameType | None) -> None:
    raise _Terminated(signum)


def _default_in_child() -> None:
    """Give a forked child (a rotate worker) the default action for SIGTERM and SIGHUP.

    A Python handler runs only between bytecodes.  A pool worker that a
    signal reaches just before it blocks on the pool's queue lock, which
    Pool.terminate() holds, would never run it and never end.  The default
    action ends the process wherever it is.
    """
    for signum in _TERMINATION_SIGNALS:
        if signal.getsignal(signum) is _on_termination:
            signal.signal(signum, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_in_child)


def _stop_on_termination() -> dict[int, Any]:
    """Raise :class:`_Terminated` on SIGTERM and SIGHUP, unless the signal is ignored (nohup).

    Return the handlers it replaced, for :func:`main` to put back when it returns.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}  # only the main thread may install signal handlers
    replaced: dict[int, Any] = {}
    for signum in _TERMINATION_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            replaced[signum] = signal.signal(signum, _on_termination)
    return replaced


def _end_by_signal(signum: int) -> NoReturn:
    """End the process by the signal itself after cleanup, so its parent learns how it ended."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    sys.exit(128 + signum)  # where the signal does not end the process at once


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    verbose = "-v" in args or "--verbose" in args
    as_json = _wants_json(args)
    replaced = _stop_on_termination()
    try:
        _run(args, argv, verbose, as_json)
    finally:
        # A caller in the same process (a test) keeps its own handlers.
        for signum, previous in replaced.items():
            signal.signal(signum, previous)


def _run(args: list[str], argv: list[str] | None, verbose: bool, as_json: bool) -> None:
    """Run the command line and turn every failure into its message and exit code."""
    try:
        cli.main(args=argv, prog_name="agile", standalone_mode=False, obj={"json": as_json})
        # Flush here rather than at interpreter exit, so that a closed pipe is handled below.
        if sys.stdout is not None:
            sys.stdout.flush()
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except (click.Abort, _PastClick) as abort:
        # An EOFError comes from a reader of a cut file too, not only from a prompt.
        cause = abort.error if isinstance(abort, _PastClick) else abort.__cause__
        if isinstance(cause, EOFError):
            reason = str(cause) or "end of input"
            _report(
                as_json,
                2,
                "EOFError",
                f"input ended early: {reason}",
                "check that the file is complete",
            )
        _report(as_json, 130, "Abort", "aborted", prefix="agile: ")
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx else "agile"
        _report(
            as_json,
            2,
            "UsageError",
            _one_line(error.format_message()),
            f"see '{command} --help'",
        )
    except click.ClickException as error:
        code = 2 if error.exit_code not in (0, 1) else error.exit_code
        _report(as_json, code, type(error).__name__, _one_line(error.format_message()))
    except AgileError as error:
        _exit_if_output_closed(error)
        # --verbose adds the traceback; the message and the exit code stay the same.
        trace = _traceback_if(verbose, as_json)
        _report(as_json, error.exit_code, type(error).__name__, str(error), error.fix, trace=trace)
    except _PipeClosed as closed:
        # EPIPE from a pipe other than standard output (a helper program that exited).
        _exit_if_output_closed(closed)
        _report_os_error(closed.error, verbose, as_json)
    except OSError as error:
        _exit_if_output_closed(error)
        _report_os_error(error, verbose, as_json)
    except KeyboardInterrupt:
        sys.exit(130)
    except _Terminated as stop:
        _end_by_signal(stop.signum)
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        _exit_if_output_closed(error)
        trace = _traceback_if(verbose, as_json)
        _report(
            as_json,
            3,
            "InternalError",
            f"{type(error).__name__}: {error}",
            "rerun with --verbose for the traceback, and please report it",
            prefix="agile: internal error: ",
            trace=trace,
        )


if __name__ == "__main__":
    main()
