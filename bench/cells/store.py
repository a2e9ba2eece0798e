"""The cache folder: where each cell's files lie, and the checksummed records written there.

Layout (``kind`` is a cell's kind, ``"fit"``, ``"eval"`` or ``"compute"``)::

    fits/<key>/model          what the method's ``save`` wrote (written via a temp file + rename)
    fits/<key>/fit.json       the spec and the fit's wall time; its presence marks the fit as finished
    fits/<key>/checkpoint*    training state of an unfinished fit (resumed on the next run)
    fits/<key>/.lock          held while a process fits the cell (others wait, then load its result)
    fits/<key>/failed.json    why the last attempt failed (read by ``--collect``)
    evals/<key>.json          per-stage means and per-image metrics of a finished evaluation
    evals/<key>.partial.jsonl one line per image already evaluated by an interrupted run
    evals/<key>.lock          held while a process evaluates the cell
    evals/<key>.failed.json   why the last attempt failed
    computed/<key>.json       the result of a finished computation (with ``.lock`` and ``.failed.json``)
    damaged/                  records that failed their checks, moved aside with the time they were found
    datasets/                 the datasets the command's process decoded, mapped by its workers
                              (:mod:`bench.datasets.shared`)
    submitit/                 the logs of submitit's jobs

Every record carries the SHA-256 of its own contents (``checksum``), and ``fit.json`` that of the model
file (``model_sha256``): a record that cannot be read or does not match is named in one warning line,
moved to ``damaged/`` (never deleted) and its cell computed again; ``python -m bench.cache verify``
checks them all.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "DamagedRecordError",
    "Kind",
    "check_locking",
    "checkpoint_path",
    "compute_checksum",
    "damaged_folder",
    "datasets_folder",
    "failure_path",
    "find_record_paths",
    "fit_folder",
    "hash_file",
    "lock_path",
    "model_path",
    "parse_record_path",
    "partial_path",
    "read_record",
    "record_path",
    "set_aside",
    "submitit_folder",
    "write_atomic",
    "write_record",
]

#: A cell's kind: a fit, an evaluation, or a computation.
Kind = Literal["fit", "eval", "compute"]
_FOLDERS: dict[str, str] = {"fit": "fits", "eval": "evals", "compute": "computed"}
_FIT_RECORD = "fit.json"


def fit_folder(cache_dir: Path, key: str) -> Path:
    """The folder of one fit (its model, record, checkpoints and lock)."""
    return cache_dir / _FOLDERS["fit"] / key


def record_path(cache_dir: Path, kind: Kind, key: str) -> Path:
    """The record whose presence marks the cell finished."""
    if kind == "fit":
        return fit_folder(cache_dir, key) / _FIT_RECORD
    return cache_dir / _FOLDERS[kind] / f"{key}.json"


def lock_path(cache_dir: Path, kind: Kind, key: str) -> Path:
    """The lock a process holds while it computes the cell."""
    if kind == "fit":
        return fit_folder(cache_dir, key) / ".lock"
    return record_path(cache_dir, kind, key).with_suffix(".lock")


def failure_path(cache_dir: Path, kind: Kind, key: str) -> Path:
    """Where the reason of the cell's last failed attempt is recorded."""
    if kind == "fit":
        return fit_folder(cache_dir, key) / "failed.json"
    return record_path(cache_dir, kind, key).with_suffix(".failed.json")


def model_path(cache_dir: Path, key: str) -> Path:
    """The saved model of a finished fit."""
    return fit_folder(cache_dir, key) / "model"


def checkpoint_path(cache_dir: Path, key: str) -> Path:
    """The checkpoint of an unfinished fit; its stages write files named ``checkpoint-<stage>``."""
    return fit_folder(cache_dir, key) / "checkpoint"


def calls_path(cache_dir: Path, key: str) -> Path:
    """The ledger of an unfinished fit's calls: when the current one started, what earlier ones kept."""
    return fit_folder(cache_dir, key) / "calls.json"


def partial_path(cache_dir: Path, key: str) -> Path:
    """The per-image lines of an interrupted evaluation."""
    return record_path(cache_dir, "eval", key).with_suffix(".partial.jsonl")


def datasets_folder(cache_dir: Path) -> Path:
    """Where the command's process writes the datasets its workers map."""
    return cache_dir / "datasets"


def damaged_folder(cache_dir: Path) -> Path:
    """Where damaged records are moved."""
    return cache_dir / "damaged"


def submitit_folder(cache_dir: Path) -> Path:
    """Where submitit writes its jobs' logs."""
    return cache_dir / "submitit"


#: What ``flock`` raises on a filesystem that does not implement it (Lustre mounted without ``flock``,
#: NFS without a lock manager).
_NO_FLOCK = frozenset({errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL})


def check_locking(cache_dir: Path) -> str | None:
    """Why the cell locks in ``cache_dir`` are unsafe, or None when its filesystem has ``flock``.

    A cell's lock is an ``flock`` (``filelock.FileLock``), which the kernel (on NFSv4, the server at the
    end of the client's lease) drops when its process dies, so a task killed by Slurm leaves no stale
    lock. Where the filesystem lacks ``flock``, filelock falls back to marker files, which a killed task
    leaves behind: every later run would wait on that cell forever.
    """
    probe = cache_dir / ".flock-probe"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None  # a cache this process cannot write: it locks nothing (the command says so if it must)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as error:
        if error.errno not in _NO_FLOCK:
            return None  # held by another process's probe: locking works
        return (
            f"the cache {cache_dir} is on a filesystem without flock ({os.strerror(error.errno)}): cell "
            "locks fall back to marker files, which a task killed while it holds one leaves behind, and "
            "later runs then wait on that cell forever (delete its .lock to go on); put --cache on a "
            "filesystem with flock (local disk, NFSv4, Lustre mounted with -o flock)"
        )
    finally:
        os.close(fd)
    return None


def find_record_paths(cache_dir: Path) -> list[Path]:
    """The record of every finished cell of the cache."""
    paths = [
        *(cache_dir / _FOLDERS["fit"]).glob(f"*/{_FIT_RECORD}"),
        *(cache_dir / _FOLDERS["eval"]).glob("*.json"),
        *(cache_dir / _FOLDERS["compute"]).glob("*.json"),
    ]
    return [p for p in paths if p.name == _FIT_RECORD or p.name.count(".") == 1]


def parse_record_path(path: Path) -> tuple[Kind, str]:
    """The kind and key of a record path (one :func:`find_record_paths` returned)."""
    if path.name == _FIT_RECORD:
        return "fit", path.parent.name
    kind = {folder: kind for kind, folder in _FOLDERS.items()}[path.parent.name]
    return kind, path.stem  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ records


class DamagedRecordError(Exception):
    """A cache record that cannot be trusted: unreadable, cut short, edited, or not matching its model."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def write_record(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write ``record`` as JSON with the SHA-256 of its contents (``checksum``), atomically; return what
    was written (numpy numbers as plain numbers, anything else unknown to JSON as text)."""
    plain = json.loads(json.dumps(record, default=_to_json))
    text = json.dumps({**plain, "checksum": compute_checksum(plain)}, indent=1)
    write_atomic(path, lambda p: p.write_text(text))
    return plain


def read_record(path: Path) -> dict[str, Any]:
    """The record at ``path`` after checking it against its checksum.

    Raises
    ------
    DamagedRecordError
        If the file cannot be read or parsed, has no checksum, or does not match it.
    """
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedRecordError(path, f"cannot be read ({type(error).__name__}: {error})") from None
    if not isinstance(record, dict) or "checksum" not in record:
        raise DamagedRecordError(path, "it carries no checksum")
    claimed = record.pop("checksum")
    if claimed != compute_checksum(record):
        raise DamagedRecordError(path, "its contents do not match its checksum")
    return record


def compute_checksum(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (keys sorted, no spaces)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def hash_file(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None when it does not exist."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def set_aside(cache_dir: Path, damage: DamagedRecordError, paths: list[Path]) -> None:
    """Move the files of a damaged cell to ``<cache>/damaged/`` (never delete them) and say so in one line."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    folder = damaged_folder(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path.exists():
            name = path.relative_to(cache_dir).as_posix().replace("/", "__")
            os.replace(path, folder / f"{stamp}-{os.getpid()}-{name}")
    print(
        f"warning: cache record {damage.path} is damaged ({damage.why}); moved to {folder}, recomputing",
        file=sys.stderr,
        flush=True,
    )


def make_temp_path(path: Path) -> Path:
    """A temp file's name beside ``path``, unique across processes and hosts sharing the folder (a pid
    is unique on one host only)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder and rename, so a crash leaves no half file."""
    tmp = make_temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _to_json(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)
