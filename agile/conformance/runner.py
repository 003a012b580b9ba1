"""Finding vector files, detecting their format and running them, optionally in parallel.

Formats are detected from content (and, for ACVP and CCTV, from the file's name
and folder), never from a configured list, so the same command runs on any
copy of the public vector sets.  A file no reader understands is reported as
skipped with the reason, not counted.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import registry
from ..errors import AgileError, InvalidArgument, UnknownProvider, VectorFormatError
from . import acvp, cctv, golden, hpke_vectors, kat, milagro, wycheproof, xwing
from .report import FileReport, Report
from .targets import Selection

__all__ = ["Job", "discover", "run", "default_paths"]

log = logging.getLogger("agile.conformance")

#: Largest vector file read, so that a stray huge file cannot exhaust memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: HPKE suites per job, so that the 128-suite RFC 9180 file spreads over workers.
HPKE_SUITES_PER_JOB = 16


@dataclass(frozen=True, slots=True)
class Job:
    path: str
    kind: str
    start: int = 0
    stop: int | None = None


def default_paths() -> list[Path]:
    """Return the project's own ``vectors/`` folder and installed vector packages."""
    own = Path(__file__).resolve().parents[2] / "vectors"
    return ([own] if own.is_dir() else []) + kat.installed_paths()


#: Fixes for a path that names nothing readable.
_PATH_FIX = "check the path and try again"
_LINK_FIX = "point the symlink at a vector file or folder, or pass another path"
#: Reasons reported for entries of a walked folder that the walk does not enter or read.
HIDDEN_REASON = "hidden, so left out of folder runs (name it as a path to run it)"
LINKED_FOLDER_REASON = (
    "symlink to a folder, not followed in folder runs (name it as a path to run it)"
)


def _unreadable_link(path: Path, error: OSError) -> str | None:
    """Return how a symlink on ``path`` fails to resolve, or None when no symlink is at fault."""
    if error.errno == errno.ELOOP:
        return "a symlink loop"
    if path.is_symlink():
        return f"a symlink to {os.readlink(path)!r}, which does not exist"
    return None


def _check_given(path: Path) -> None:
    """Raise VectorFormatError when a path given to the run names nothing that can be read."""
    try:
        path.stat()
    except OSError as error:
        link = _unreadable_link(path, error)
        if link is not None:
            problem, fix = f"is {link}", _LINK_FIX
        elif error.errno in (errno.ENOENT, errno.ENOTDIR):
            problem, fix = "does not exist", _PATH_FIX
        else:
            problem, fix = f"cannot be read ({error.strerror})", _PATH_FIX
        raise VectorFormatError(f"vector path {str(path)!r} {problem}", fix=fix) from None


def _walk(paths: Iterable[Path]) -> Iterator[tuple[Path, str | None]]:
    """Yield each file under ``paths`` with None, or an entry left out with the reason.

    Inside a folder, hidden files and folders (a leading dot, such as ``.git`` or
    ``.venv``) are reported instead of read, so that a run of a checkout does not
    read tool caches. Symlinks to folders are reported instead of followed, so that
    a link back up the tree cannot make the walk endless. A path named on the
    command line is run whatever its name.
    """
    for path in paths:
        _check_given(path)
        if not path.is_dir():
            yield path, None
            continue
        for root, directories, files in os.walk(path):
            folder = Path(root)
            for name in sorted([*directories, *files]):
                if name.startswith("."):
                    yield folder / name, HIDDEN_REASON
                elif name in directories and (folder / name).is_symlink():
                    yield folder / name, LINKED_FOLDER_REASON
            directories[:] = sorted(d for d in directories if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield folder / name, None


def _unique(entries: Iterable[tuple[Path, str | None]]) -> list[tuple[Path, str | None]]:
    """Drop entries that name a file already listed, through another path or a symlink.

    The first path to reach a file names it in the report, except that a file named
    on the command line runs even when a folder walk listed it as left out first.
    """
    positions: dict[str, int] = {}
    unique: list[tuple[Path, str | None]] = []
    for path, reason in entries:
        # os.path.realpath returns on a symlink loop, where Path.resolve before Python 3.13
        # raises RuntimeError.
        key = os.path.realpath(path)
        if key not in positions:
            positions[key] = len(unique)
            unique.append((path, reason))
            continue
        first, first_reason = unique[positions[key]]
        if first_reason is not None and reason is None:
            unique[positions[key]] = (path, None)
        else:
            log.debug("skipping %s, the same file as %s", path, first)
    return unique


def _load_json(path: Path) -> Any:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise VectorFormatError(
            f"{path}: larger than {MAX_FILE_BYTES} bytes",
            fix="leave the file out of the paths, or split it",
        )
    try:
        return json.loads(path.read_bytes())
    except RecursionError:
        raise VectorFormatError(
            f"{path}: JSON nested too deeply to read",
            fix="restore the file from its source, or leave it out of the paths",
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VectorFormatError(
            f"{path}: not valid JSON ({error})",
            fix="restore the file from its source, or leave it out of the paths",
        ) from None


def _classify(path: Path) -> tuple[str, int | None] | str:
    """Return (kind, number of units) for a runnable file, or the reason it is skipped."""
    try:
        path.stat()
    except OSError as error:
        # A symlink inside a walked folder that loops or dangles is reported, not read.
        return _unreadable_link(path, error) or f"cannot be read ({error.strerror})"
    if not path.is_file():
        # A FIFO or device would block or never end, and has no size to check first.
        return "not a regular file"
    kind = cctv.detect(path)
    if kind is not None:
        return (f"cctv:{kind}", None)
    algorithm = kat.detect(path)
    if algorithm is not None:
        return (f"kat:{algorithm}", None)
    operation = milagro.detect(path)
    if operation is not None:
        return (f"milagro:{operation}", None)
    if path.suffix != ".json":
        if not path.suffix:
            return "no reader for files without an extension"
        return f"no reader for {path.suffix} files"
    if path.name == "expectedResults.json":
        return "ACVP answers, read together with the prompt.json beside it"
    document = _load_json(path)
    if acvp.is_prompt(path, document):
        return ("acvp", None)
    if wycheproof.looks_like(document):
        return ("wycheproof", None)
    if hpke_vectors.looks_like(document):
        return ("hpke", len(document))
    if xwing.looks_like(document):
        return ("x-wing", None)
    if isinstance(document, dict) and "$schema" in document:
        return "JSON schema, not test vectors"
    if golden.looks_like(document):
        return ("golden", None)
    return "JSON in no vector format the runner reads"


def _is_golden_manifest(path: Path) -> bool:
    # A manifest.json that is a FIFO or a symlink loop is not read here, and _classify skips it.
    return path.name == "manifest.json" and path.is_file() and golden.looks_like(_load_json(path))


def discover(paths: Iterable[Path]) -> tuple[list[Job], list[FileReport]]:
    """Return the jobs to run and the reports of files skipped as a whole."""
    jobs: list[Job] = []
    skipped: list[FileReport] = []
    entries = _unique(_walk(paths))
    # A golden set's envelopes, plaintexts and keystore are cases of its manifest, not files.
    golden_folders = {
        path.parent for path, left_out in entries if left_out is None and _is_golden_manifest(path)
    }
    for path, left_out in entries:
        if path.name != "manifest.json" and any(
            folder in path.parents for folder in golden_folders
        ):
            continue
        found = left_out or _classify(path)
        if isinstance(found, str):
            skipped.append(FileReport(path=str(path), format=None, skipped_reason=found))
            continue
        kind, units = found
        if kind == "hpke" and units:
            for start in range(0, units, HPKE_SUITES_PER_JOB):
                jobs.append(Job(str(path), kind, start, start + HPKE_SUITES_PER_JOB))
        else:
            jobs.append(Job(str(path), kind))
    return jobs, skipped


def run_job(job: Job, selection: Selection) -> FileReport:
    started = time.perf_counter()
    try:
        report = _run_job(job, selection)
    except AgileError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as error:
        # Readers pass provider calls through judge.py, which records their exceptions,
        # so an exception that escapes a reader comes from a malformed file (a
        # RecursionError from JSON nested too deeply for the json module).
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise VectorFormatError(
            f"{job.path}: malformed {job.kind} vector file ({type(error).__name__}: {detail})",
            fix="restore the file from its source, or leave it out of the paths",
        ) from error
    report.seconds = time.perf_counter() - started
    return report


def _run_job(job: Job, selection: Selection) -> FileReport:
    path = Path(job.path)
    if job.kind.startswith("cctv:"):
        return cctv.run_file(path, job.kind.split(":", 1)[1], selection)
    if job.kind.startswith("kat:"):
        return kat.run_file(path, job.kind.split(":", 1)[1], selection)
    if job.kind.startswith("milagro:"):
        return milagro.run_file(path, job.kind.split(":", 1)[1], selection)
    if job.kind == "acvp":
        return acvp.run_pair(path, _load_json(path), selection)
    if job.kind == "wycheproof":
        return wycheproof.run_file(job.path, _load_json(path), selection)
    if job.kind == "hpke":
        suites = _load_json(path)[job.start : job.stop]
        return hpke_vectors.run_file(job.path, suites, selection, first_index=job.start)
    if job.kind == "x-wing":
        return xwing.run_file(job.path, _load_json(path), selection)
    if job.kind == "golden":
        return golden.run_file(path, _load_json(path), selection)
    raise VectorFormatError(f"{path}: unknown job kind {job.kind!r}")


def _merge(reports: list[FileReport]) -> list[FileReport]:
    """Join the reports of jobs that split one file, keeping the files' order."""
    merged: dict[str, FileReport] = {}
    for report in reports:
        if report.path not in merged:
            merged[report.path] = report
            continue
        target = merged[report.path]
        target.seconds += report.seconds
        for key, tally in report.tallies.items():
            target.tally(*key).merge(tally)
        for name, value in report.tables.items():
            if isinstance(value, dict) and isinstance(target.tables.get(name), dict):
                for inner, count in value.items():
                    target.tables[name][inner] = target.tables[name].get(inner, 0) + count
            else:
                target.tables.setdefault(name, value)
    return list(merged.values())


def run(
    paths: Iterable[Path | str] | Path | str,
    *,
    providers: Iterable[str] | None = None,
    algorithms: Iterable[str] | None = None,
    workers: int = 1,
) -> Report:
    """Run every vector file under ``paths`` and return the report."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]  # one path, not an iterable of its characters
    paths = list(paths)
    if any(isinstance(path, str) and not path for path in paths):
        # Path("") is ".", so an empty "$VECTORS" would run the current folder.
        raise InvalidArgument(
            "vector path is empty", fix="pass a file or folder, or '.' for the current folder"
        )
    started = time.perf_counter()
    selection = Selection(
        providers=frozenset(providers) if providers else None,
        algorithms=frozenset(algorithms) if algorithms else None,
    )
    if selection.providers:
        # The golden envelopes are reported under the provider name "agile".
        known = set(registry.provider_names()) | {golden.PROVIDER}
        unknown = sorted(selection.providers - known)
        if unknown:
            raise UnknownProvider(
                f"unknown provider {unknown[0]!r}", fix=f"use one of: {', '.join(sorted(known))}"
            )
    if selection.algorithms:
        for algorithm in selection.algorithms:
            registry.descriptor(algorithm)
    jobs, skipped = discover(Path(path) for path in paths)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run_job, jobs, [selection] * len(jobs)))
    else:
        results = [run_job(job, selection) for job in jobs]
    report = Report(files=_merge(results) + skipped)
    report.files.sort(key=lambda item: item.path)
    report.seconds = time.perf_counter() - started
    log.info("ran %d vector files in %.1f s", len(report.files), report.seconds)
    return report
