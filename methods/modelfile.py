"""Model files: one fitted method with its configuration, its weights and where it came from.

A model file is a zip archive holding ``model.json`` (format name and version, the method's registry key,
name and hyper-parameters, what it was trained on, provenance) and ``weights``, what the method's
``save`` wrote. Opening anything else (another file, a corrupt archive, a file written by a newer
format version, weights the method cannot load) raises :class:`ModelFileError` with one line naming
the file and the problem, never an error from deep inside torch.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from methods.base import Denoiser
from methods.registry import METHODS, load_method

#: The ``format`` field of every model file.
FORMAT = "gan2gan-bench model"
#: The version this code writes and the newest it reads.
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file cannot be used; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class ModelInfo:
    """What ``model.json`` says: the method (registry key), its parameters, training data, provenance."""

    method: str
    params: dict[str, Any]
    record: dict[str, Any]


def save_model_file(
    path: Path, method: Denoiser, *, key: str, params: dict[str, Any], record: dict[str, Any]
) -> None:
    """Write ``method`` (fitted, registry ``key``, built with ``params``) and ``record`` to ``path``.

    ``record`` holds what ``info`` shows: the training data, the profile, the seed, provenance. The
    file is written to a temporary name and renamed, so a crash never leaves a half model file.
    """
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": key,
        "method_name": METHODS[key].name,
        "params": params,
        **record,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tempfile.TemporaryDirectory() as folder:
            weights = Path(folder) / "weights"
            method.save(weights)
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("model.json", json.dumps(header, indent=1, default=str))
                archive.write(weights, "weights")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def read_model_info(path: Path) -> ModelInfo:
    """Read and check the header of the model file at ``path`` (no weights are loaded)."""
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            header = json.loads(archive.read("model.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(
            f"{path} is not a model file of this suite ({type(error).__name__}: {error}); "
            "make one with: python -m methods fit METHOD NOISY_DIR --out MODEL"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a model file of this suite (its model.json has another format)")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written in model-file format version {version}; this suite reads versions up to "
            f"{FORMAT_VERSION}: upgrade gan2gan-bench to use it"
        )
    key = header.get("method")
    if key not in METHODS:
        raise ModelFileError(f"{path} holds a model of method {key!r}, which this suite does not know")
    return ModelInfo(method=key, params=dict(header.get("params", {})), record=header)


def load_model_file(path: Path, *, device: str = "auto") -> tuple[Denoiser, ModelInfo]:
    """The fitted method stored in ``path`` and its header."""
    info = read_model_info(path)
    try:
        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(path) as archive:
            weights = Path(archive.extract("weights", folder))
            method = load_method(info.method, weights, device=device)
    except Exception as error:  # corrupt weights surface from zipfile, torch or the method's own loader
        message = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        raise ModelFileError(
            f"{path}: the {METHODS[info.method].name} weights cannot be loaded ({message})"
        ) from None
    return method, info
