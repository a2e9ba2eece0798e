"""The official Noise2Void package (``n2v`` 0.3.3, TensorFlow, U-Net) behind the suite's interface.

It is the reference our torch :mod:`methods.n2v` is checked against (``python -m bench.run n2v-check``).
The package needs TensorFlow 2.15 and numpy < 2, which cannot share an environment with the suite, so it
lives in its own virtual environment (:data:`OFFICIAL_REQUIREMENTS`) and is driven through files and a
subprocess running :mod:`methods.n2v_official_worker`:

- ``fit`` writes the noisy training images and the package's configuration to a temporary folder and
  runs the worker there once; the trained model folder (``config.json``, ``weights_last.h5``) is kept
  in memory and in the file :meth:`Noise2VoidOfficial.save` writes.
- ``denoise`` starts one worker per fitted model on first use and sends it one image at a time.

The environment is found at ``$N2V_OFFICIAL_PYTHON`` (its interpreter), else at ``.tox/n2v-official``
of this checkout, which ``tox -e n2v`` or ``python -m methods.n2v_official install`` creates. Without
it the method says so in one line (:meth:`Noise2VoidOfficial.unavailable_reason`) and tables leave its
cells empty. TensorFlow here is the CPU build; a killed fit starts again from the beginning (the
package keeps no resumable training state).
"""

from __future__ import annotations

import argparse
import collections
import functools
import io
import json
import os
import subprocess
import sys
import tempfile
import weakref
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from methods.base import Method, Requirements, TrainingData
from methods.n2v import Replacement

#: The only versions that work together (spec peers B: n2v is not compatible with TensorFlow 2.16).
OFFICIAL_REQUIREMENTS: tuple[str, ...] = (
    "tensorflow-cpu==2.15.1",
    "keras==2.15.0",
    "csbdeep==0.7.4",
    "n2v==0.3.3",
    "numpy<2",
)
DEFAULT_ENV = Path(__file__).resolve().parent.parent / ".tox" / "n2v-official"
_WORKER = Path(__file__).resolve().parent / "n2v_official_worker.py"
_MODEL_NAME = "n2v"  # the worker's model folder name
_MANIPULATORS = {"uniform_withCP": "uniform_withCP", "uniform_noCP": "uniform_withoutCP"}


class MethodUnavailableError(RuntimeError):
    """The official package's environment is missing or broken."""


def find_official_python() -> Path:
    """The interpreter of the official environment: ``$N2V_OFFICIAL_PYTHON``, else :data:`DEFAULT_ENV`'s."""
    configured = os.environ.get("N2V_OFFICIAL_PYTHON")
    return Path(configured) if configured else DEFAULT_ENV / "bin" / "python"


def check_official_environment() -> str | None:
    """Why the official environment cannot be used, in one line, or None when it can."""
    return _probe(str(find_official_python()))


@functools.cache
def _probe(python: str) -> str | None:
    hint = (
        "create it with `tox -e n2v` or `python -m methods.n2v_official install`, or set N2V_OFFICIAL_PYTHON"
    )
    if not Path(python).exists():
        return f"no official n2v environment at {python}: {hint}"
    code = "import importlib.util as u, sys; sys.exit(not (u.find_spec('n2v') and u.find_spec('tensorflow')))"
    try:
        found = subprocess.run([python, "-c", code], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the official n2v environment's python {python} does not run ({error}): {hint}"
    return None if found else f"{python} has no n2v or tensorflow package: {hint}"


def install_official_environment(env_dir: Path, *, python: str = sys.executable) -> Path:
    """Create (or update) a virtual environment at ``env_dir`` with :data:`OFFICIAL_REQUIREMENTS`.

    ``python`` must be 3.9-3.11 (TensorFlow 2.15's range). Returns the new interpreter's path.
    """
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[0] * 100 + sys.version_info[1])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not 309 <= int(version) <= 311:
        raise MethodUnavailableError(
            f"{python} is Python {int(version) // 100}.{int(version) % 100}; tensorflow-cpu 2.15 needs "
            "3.9-3.11: pass --python with such an interpreter"
        )
    env_python = env_dir.resolve() / "bin" / "python"
    if not env_python.exists():
        subprocess.run([python, "-m", "venv", str(env_dir)], check=True)
    print(f"installing {' '.join(OFFICIAL_REQUIREMENTS)} into {env_dir} (about 1.7 GB)", file=sys.stderr)
    subprocess.run(
        [
            str(env_python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *OFFICIAL_REQUIREMENTS,
        ],
        check=True,
    )
    _probe.cache_clear()
    return env_python


class Noise2VoidOfficial(Method):
    """The ``n2v`` package's N2V model, trained and applied in its own environment.

    The defaults are the package's BSD68 reproducibility recipe (spec peers B); the masking options
    mean what they mean in :class:`methods.n2v.Noise2Void`, so a profile can match the two.

    Parameters
    ----------
    percent, radius, replacement :
        Blind-spot masking: ``n2v_perc_pix``, ``n2v_neighborhood_radius`` and ``n2v_manipulator``
        (``uniform_noCP`` is the package's ``uniform_withoutCP``).
    patch_size, batch_size, lr :
        ``n2v_patch_shape`` (square), ``train_batch_size``, ``train_learning_rate`` (Adam).
    steps, epochs : int
        Optimizer steps in all, split into ``epochs`` Keras epochs (``train_steps_per_epoch`` is
        ``steps / epochs``); the package's ReduceLROnPlateau (factor 0.5, patience 10) acts per epoch.
    depth, features, kernel_size, residual :
        The U-Net: ``unet_n_depth``, ``unet_n_first``, ``unet_kern_size``, ``unet_residual``.
    augment : bool
        Train on the 8 rotations and flips of every training tile, as ``N2V_DataGenerator`` does.
    val_fraction : float
        Fraction of the training tiles the package's validation (and learning-rate schedule) watches.
    device : str
        Accepted for the common interface; the TensorFlow build here runs on the CPU.
    """

    name: ClassVar[str] = "N2V (official)"
    requires: ClassVar[Requirements] = Requirements()

    def __init__(
        self,
        *,
        percent: float = 0.198,
        radius: int = 2,
        replacement: Replacement = "uniform_withCP",
        patch_size: int = 64,
        batch_size: int = 128,
        steps: int = 80_000,
        epochs: int = 200,
        lr: float = 4e-4,
        depth: int = 2,
        features: int = 96,
        kernel_size: int = 3,
        residual: bool = True,
        augment: bool = True,
        val_fraction: float = 0.05,
        device: str = "auto",
    ) -> None:
        if replacement not in _MANIPULATORS:
            raise ValueError(f"replacement must be one of {sorted(_MANIPULATORS)}, got {replacement!r}")
        if epochs < 1 or steps % epochs:
            raise ValueError(f"steps ({steps}) must be a positive multiple of epochs ({epochs})")
        if int(patch_size**2 / 100 * percent) < 1:  # the package asserts it deep in its data wrapper
            raise ValueError(f"percent {percent} masks no pixel of a {patch_size}x{patch_size} patch")
        if patch_size % 2**depth:
            raise ValueError(f"patch_size {patch_size} must be a multiple of 2**depth = {2**depth}")
        self.params: dict[str, Any] = {
            "percent": percent,
            "radius": radius,
            "replacement": replacement,
            "patch_size": patch_size,
            "batch_size": batch_size,
            "steps": steps,
            "epochs": epochs,
            "lr": lr,
            "depth": depth,
            "features": features,
            "kernel_size": kernel_size,
            "residual": residual,
            "augment": augment,
            "val_fraction": val_fraction,
        }
        self.report: dict[str, Any] = {}
        self._model: bytes | None = None  # the package's model folder, zipped
        self._server: _Server | None = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this method cannot run here, in one line, or None."""
        return check_official_environment()

    @property
    def min_image_size(self) -> int:
        """Smallest training image side: the patch size."""
        return self.params["patch_size"]

    def package_config(self, *, seed: int) -> dict[str, Any]:
        """The keyword arguments of ``n2v.models.N2VConfig``, plus the worker's own options."""
        p = self.params
        return {
            "unet_kern_size": p["kernel_size"],
            "unet_n_depth": p["depth"],
            "unet_n_first": p["features"],
            "unet_residual": p["residual"],
            "batch_norm": True,
            "single_net_per_channel": False,
            "train_loss": "mse",
            "train_epochs": p["epochs"],
            "train_steps_per_epoch": p["steps"] // p["epochs"],
            "train_batch_size": p["batch_size"],
            "train_learning_rate": p["lr"],
            "n2v_perc_pix": p["percent"],
            "n2v_patch_shape": [p["patch_size"], p["patch_size"]],
            "n2v_manipulator": _MANIPULATORS[p["replacement"]],
            "n2v_neighborhood_radius": p["radius"],
            "seed": seed,
            "augment": p["augment"],
            "val_fraction": p["val_fraction"],
        }

    def fit(
        self, data: TrainingData, *, seed: int, progress: bool = True, checkpoint: Path | None = None
    ) -> None:
        """Train the package's model on the noisy images in a worker process (``checkpoint`` unused)."""
        python = _require_environment()
        if not data.noisy:
            raise ValueError(f"{self.name} learns from noisy images, but the training data has none")
        with tempfile.TemporaryDirectory(prefix="n2v-official-") as tmp:
            work = Path(tmp)
            np.savez(work / "train.npz", **{f"image_{i:05d}": image for i, image in enumerate(data.noisy)})
            (work / "config.json").write_text(json.dumps(self.package_config(seed=seed)))
            _run_worker(python, "fit", work, progress=progress)
            self._model = _zip_model(work / "model" / _MODEL_NAME)
            history = json.loads((work / "history.json").read_text())
        self.report = {"final_loss": history["loss"][-1], "final_val_loss": history["val_loss"][-1]}
        self._stop_server()

    def denoise(self, noisy: np.ndarray) -> np.ndarray:
        """Denoise one HxW image with the package's ``N2V.predict`` (no test-time augmentation)."""
        if self._model is None:
            raise RuntimeError(f"{self.name}.denoise called before fit")
        if self._server is None:
            self._server = _Server(_require_environment(), self._model)
        return self._server.denoise(np.asarray(noisy, dtype=np.float32))

    def stages(self) -> Mapping[str, Noise2VoidOfficial]:
        """One stage: the trained model."""
        return {self.name: self}

    def save(self, path: Path) -> None:
        """Write a zip of the hyper-parameters and the package's model folder."""
        if self._model is None:
            raise RuntimeError(f"{self.name}.save called before fit")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("params.json", json.dumps(self.params))
            archive.writestr("report.json", json.dumps(self.report))
            archive.writestr("model.zip", self._model)

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu") -> Noise2VoidOfficial:
        """Rebuild from :meth:`save`'s file (denoising still needs the official environment)."""
        try:
            with zipfile.ZipFile(path) as archive:
                params = json.loads(archive.read("params.json"))
                method = cls(**params, device=device)
                method.report = json.loads(archive.read("report.json"))
                method._model = archive.read("model.zip")
        except (zipfile.BadZipFile, KeyError) as error:
            raise ValueError(f"{path}: not a model file written by {cls.__name__}.save ({error})") from None
        return method

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


class _Server:
    """One ``serve`` worker holding a loaded model, stopped when closed or garbage-collected."""

    def __init__(self, python: Path, model: bytes) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="n2v-official-serve-")
        root = Path(self._folder.name)
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            archive.extractall(root / _MODEL_NAME)
        self._log = (root / "worker.log").open("w")
        self._process = subprocess.Popen(
            [*_worker_command(python), "serve", str(root / _MODEL_NAME)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=_worker_env(),
        )
        self._count = 0
        self._finalizer = weakref.finalize(self, _stop_process, self._process, self._log, self._folder)

    def denoise(self, image: np.ndarray) -> np.ndarray:
        root = Path(self._folder.name)
        source, target = root / f"in{self._count}.npy", root / f"out{self._count}.npy"
        self._count += 1
        np.save(source, image)
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            self._process.stdin.write(json.dumps({"input": str(source), "output": str(target)}) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            pass  # reported below from the worker's log
        reply = self._process.stdout.readline()
        if not reply:
            self._log.flush()
            tail = (root / "worker.log").read_text().splitlines()[-5:]
            raise RuntimeError("the official n2v worker stopped: " + " | ".join(tail))
        answer = json.loads(reply)
        if "error" in answer:
            raise RuntimeError(
                f"the official n2v worker failed on an image of shape {image.shape}: {answer['error']}"
            )
        out = np.load(target)
        source.unlink()
        target.unlink()
        return out

    def close(self) -> None:
        self._finalizer()


def _stop_process(process: subprocess.Popen, log: io.TextIOBase, folder: tempfile.TemporaryDirectory) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
    log.close()
    folder.cleanup()


def _require_environment() -> Path:
    reason = check_official_environment()
    if reason is not None:
        raise MethodUnavailableError(f"N2V (official) is unavailable: {reason}")
    return find_official_python()


def _worker_command(python: Path) -> list[str]:
    """Isolated (``-I``: ``methods/n2v.py`` must not shadow the package) and unbuffered."""
    return [str(python), "-I", "-u", str(_WORKER)]


def _worker_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def _run_worker(python: Path, command: str, folder: Path, *, progress: bool) -> None:
    """Run the worker to completion, echoing its output when ``progress``; its last lines on failure."""
    tail: collections.deque[str] = collections.deque(maxlen=8)
    with subprocess.Popen(
        [*_worker_command(python), command, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_worker_env(),
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            if progress and "ETA:" not in line:  # Keras's per-step bar, one line per step here
                sys.stderr.write(line)
    if process.returncode != 0:
        raise RuntimeError(
            f"the official n2v worker ({command}) exited with status {process.returncode}: "
            + " | ".join(tail)
        )


def _zip_model(folder: Path) -> bytes:
    """The two files ``N2V(None, name, basedir)`` loads: the configuration and the last weights."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("config.json", "weights_last.h5"):
            archive.write(folder / name, name)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """``python -m methods.n2v_official install [DIR] [--python PY]`` or ``... check``."""
    parser = argparse.ArgumentParser(
        prog="python -m methods.n2v_official", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="create the official package's environment")
    install.add_argument("env_dir", nargs="?", type=Path, default=DEFAULT_ENV, help=f"default: {DEFAULT_ENV}")
    install.add_argument("--python", default=sys.executable, help="a Python 3.9-3.11 (default: this one)")
    sub.add_parser("check", help="say whether the environment is usable")
    args = parser.parse_args(argv)
    if args.command == "install":
        try:
            python = install_official_environment(args.env_dir, python=args.python)
        except MethodUnavailableError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"installed; use it with N2V_OFFICIAL_PYTHON={python}", file=sys.stderr)
        return 0
    reason = check_official_environment()
    print(reason or f"N2V (official) is available ({find_official_python()})")
    return 0 if reason is None else 1


if __name__ == "__main__":
    sys.exit(main())
