"""The cell runner: computes the fits, evaluations and computations of :mod:`bench.cells.specs`
against one cache folder, loading data and models lazily.

Results lie in a cache folder laid out by :mod:`bench.cells.store` (finished records, checkpoints, locks,
damaged records), and ``python -m bench.cache`` lists, shows and verifies them. Each record also holds its
provenance (versions, git revision, code digest, device, torch threads, host, start and end).
Two processes running the same cell against one cache (two table runs, or workers of a cluster job)
cannot corrupt it: the second waits on the cell's lock, then reads the first's result.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from threadpoolctl import threadpool_limits

from bench.cells.crops import VISUAL_IMAGES, decode_crop, encode_crop
from bench.cells.metrics import compute_psnr, compute_ssim
from bench.cells.provenance import compute_code_digest
from bench.cells.specs import (
    Cell,
    ComputeSpec,
    EvalSpec,
    FitSpec,
    describe_cell,
    find_function,
    kind_of,
    list_fits,
    walk_fits,
)
from bench.cells.store import (
    DamagedRecordError,
    calls_path,
    checkpoint_path,
    compute_checksum,
    datasets_folder,
    fit_folder,
    hash_file,
    lock_path,
    model_path,
    partial_path,
    read_record,
    record_path,
    set_aside,
    write_atomic,
    write_record,
)
from bench.datasets.base import Dataset, DatasetSpec
from bench.datasets.catalog import load_dataset
from bench.datasets.realnoise import RealNoiseDataset, check_real_noise_method
from bench.datasets.shared import map_dataset, share_dataset
from methods.base import (
    Denoiser,
    Requirements,
    TrainingData,
    build_training_data,
    iterate_denoised,
    plan_batches,
)
from methods.images import DataError
from methods.provenance import describe_device, describe_git, describe_versions, now_utc
from methods.registry import METHODS, load_method, make_method
from methods.training import check_device_name, choose_algorithms, resolve_device, use_precision
from noise import RealNoise, derive_rng

#: Seconds between two progress lines of an evaluation when stderr is not a terminal (no bar there).
PROGRESS_SECONDS = 30.0
#: A loaded dataset of a runner: its spec, ``limit`` and ``min_size``
#: (:func:`bench.datasets.catalog.load_dataset`).
DatasetKey = tuple[DatasetSpec, int | None, int | None]


@dataclass
class StageResult:
    """Mean metrics of one stage of a method on one evaluation cell."""

    stage: str
    psnr: float
    ssim: float
    ssim_authors: float
    n_images: int
    denoise_seconds: float
    #: PSNR of the outputs quantised to 8 bits (:func:`bench.cells.metrics.compute_psnr`).
    psnr_8bit: float


@dataclass
class EvalResult:
    """Everything one evaluation cell produced."""

    spec: EvalSpec
    stages: list[StageResult]
    fit_seconds: float
    from_cache: bool
    fit_report: dict[str, Any] = field(default_factory=dict)
    #: The device the evaluation ran on (its provenance), e.g. ``cpu`` or ``cuda:0``.
    device: str = ""
    #: The kept crops (:mod:`bench.cells.crops`): image -> ``noisy``, ``clean`` or a stage -> (crop, PSNR of
    #: the whole image; None for the clean one).
    visuals: dict[str, dict[str, tuple[np.ndarray, float | None]]] = field(default_factory=dict)

    def stage_rows(self) -> list[dict[str, Any]]:
        """One tidy row per stage (method, seed, metrics, fit and denoise seconds, the device it ran on);
        reports add their own key columns."""
        return [
            {
                "method": stage.stage,
                "seed": self.spec.seed,
                "psnr": stage.psnr,
                "psnr_8bit": stage.psnr_8bit,
                "ssim": stage.ssim,
                "ssim_authors": stage.ssim_authors,
                "n_images": stage.n_images,
                "fit_seconds": self.fit_seconds,
                "denoise_seconds": stage.denoise_seconds,
                "device": self.device,
            }
            for stage in self.stages
        ]


@dataclass
class CellRunner:
    """Runs fit and evaluation cells against one cache folder, loading data and models lazily.

    Parameters
    ----------
    cache_dir : Path
        Shared cache folder (``<out>/.cache`` by default).
    data_root : Path or None
        Data root for :func:`bench.datasets.catalog.load_dataset`.
    device : str
        'auto', 'cpu', 'cuda' or 'cuda:N', resolved (:attr:`torch_device`) when a cell first computes here,
        so a process that only plans and reads cells (a Slurm login node) needs no GPU.
    threads : int
        Torch intra-op threads of this process. Results on CPU depend on it at the last bits, so it is
        the same for every executor (and recorded with each result).
    deterministic : bool
        Deterministic algorithms only (:func:`methods.training.choose_algorithms`): what makes GPU
        results repeat; recorded with each result.
    image_jobs : int
        Processes over which an evaluation spreads the test images of a method that denoises one image
        at a time (BM3D); its results do not depend on it. Torch methods get stacks of equal-size images.
    shared_datasets : dict
        Datasets the command's process decoded, by ``(name, limit, min_size)``: the file of each
        (:func:`bench.datasets.shared.share_dataset`), mapped here instead of decoded again.
    force : bool
        Recompute every cell this runner meets (its cached result is deleted the first time).
    force_methods : frozenset of str
        Recompute the cells of these method keys and of methods built on them.
    progress : bool
        Show progress bars.
    log : callable
        Receives one-line status messages.
    """

    cache_dir: Path
    data_root: Path | None = None
    device: str = "auto"
    threads: int = 1
    deterministic: bool = False
    image_jobs: int = 1
    shared_datasets: dict[DatasetKey, Path] = field(default_factory=dict)
    force: bool = False
    force_methods: frozenset[str] = frozenset()
    progress: bool = True
    log: Callable[[str], None] = print
    _invalidated: set[str] = field(default_factory=set, repr=False)
    _datasets: dict[DatasetKey, Dataset] = field(default_factory=dict, repr=False)
    _fitted: dict[str, tuple[Denoiser, float]] = field(default_factory=dict, repr=False)
    _reports: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _resolved: torch.device | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.image_jobs < 1:
            raise ValueError(f"image_jobs must be at least 1, got {self.image_jobs}")
        torch.set_num_threads(self.threads)
        choose_algorithms(deterministic=self.deterministic)

    @property
    def torch_device(self) -> torch.device:
        """The device cells compute on here, resolved the first time one needs it.

        Raises
        ------
        ValueError
            CUDA was asked for and this process has none.
        """
        if self._resolved is None:
            self._resolved = resolve_device(self.device)
        return self._resolved

    def dataset(self, spec: DatasetSpec, *, limit: int | None = None, min_size: int | None = None) -> Dataset:
        """Load a dataset: decoded once per process, or mapped from the file the command's process wrote."""
        key = (spec, limit, min_size)
        if key not in self._datasets:
            shared = self.shared_datasets.get(key)
            self._datasets[key] = (
                map_dataset(shared)
                if shared is not None
                else load_dataset(spec, data_root=self.data_root, limit=limit, min_size=min_size)
            )
        return self._datasets[key]

    def share_datasets(self) -> dict[DatasetKey, Path]:
        """Write every dataset loaded so far to ``<cache>/datasets`` for worker processes to map
        (:mod:`bench.datasets.shared`), so a run decodes each dataset once. Real-noise datasets, which
        carry a noisy side, are left to each process to decode."""
        return {
            key: share_dataset(dataset, datasets_folder(self.cache_dir))
            for key, dataset in self._datasets.items()
            if type(dataset) is Dataset
        }

    def check_data(self, cells: list[Cell]) -> None:
        """Load every dataset the fits and evaluations of ``cells`` need, so bad data stops a run before
        any work with one clear :class:`~methods.images.DataError` (and workers are not the first to find
        it)."""
        fits = {fit.key: fit for cell in cells for root in list_fits(cell) for fit in walk_fits(root)}
        for fit in fits.values():
            if _learns_from_images(METHODS[fit.method].requires):
                self._training_images(fit, make_method(fit.method, params=dict(fit.params), device="cpu"))
        for spec in cells:
            if isinstance(spec, EvalSpec):
                self.dataset(spec.test_data, limit=spec.test_limit, min_size=spec.test_crop)

    def _training_images(self, spec: FitSpec, method: Denoiser) -> tuple[np.ndarray, ...]:
        return self.dataset(spec.train_data, limit=spec.train_limit, min_size=method.min_image_size).images

    def invalidate(self, specs: list[EvalSpec | FitSpec | ComputeSpec]) -> int:
        """Delete the cached results ``force``/``force_methods`` select among ``specs``, once per run
        (a table does it for all its cells before workers start); return how many were deleted."""
        if not (self.force or self.force_methods):
            return 0
        fresh = [s for s in specs if s.key not in self._invalidated]
        removed = invalidate_cells(self.cache_dir, fresh, methods=None if self.force else self.force_methods)
        for spec in fresh:
            self._invalidated.add(spec.key)
            self._invalidated.update(f.key for root in list_fits(spec) for f in walk_fits(root))
        return removed

    def fit(self, spec: FitSpec) -> tuple[Denoiser, float]:
        """Return the fitted method of ``spec`` and its fit time, fitting it unless cached."""
        key = spec.key
        if key in self._fitted:
            return self._fitted[key]
        self.invalidate([spec])
        record = record_path(self.cache_dir, "fit", key)
        if not record.exists() or (cached := self._load_fit(spec)) is None:
            fit_folder(self.cache_dir, key).mkdir(parents=True, exist_ok=True)
            with FileLock(lock_path(self.cache_dir, "fit", key)):
                if not record.exists():  # nobody finished it while we waited for the lock
                    self._fitted[key] = self._run_fit(spec)
                    return self._fitted[key]
            return self.fit(spec)  # another process finished it meanwhile: load (and check) its result
        self.log(f"[fit] {METHODS[spec.method].name}: cached ({_describe(spec)})")
        self._fitted[key] = cached
        return cached

    def _load_fit(self, spec: FitSpec) -> tuple[Denoiser, float] | None:
        """The cached fit, or None when its record or model file is damaged (set aside)."""
        record, model = record_path(self.cache_dir, "fit", spec.key), model_path(self.cache_dir, spec.key)
        try:
            state = read_record(record)
            if state.get("model_sha256") != hash_file(model):
                raise DamagedRecordError(model, "it does not match fit.json's model_sha256")
        except DamagedRecordError as damage:
            set_aside(self.cache_dir, damage, [record, model])
            return None
        self._reports[spec.key] = state.get("report", {})
        return load_method(spec.method, model, device=str(self.torch_device)), state["seconds"]

    def report(self, spec: FitSpec) -> dict[str, Any]:
        """What a fitted method reported about its fit (GAN2GAN: extraction and stage times), or {}."""
        return self._reports.get(spec.key, {})

    def describe_provenance(self, *, started: str) -> dict[str, Any]:
        """Where a result computed by this runner since ``started`` came from."""
        return {
            "versions": describe_versions(),
            "git": describe_git(),
            "code_digest": compute_code_digest(),
            "device": describe_device(str(self.torch_device)),
            "deterministic": self.deterministic,
            "pid": os.getpid(),
            "started": started,
            "finished": now_utc(),
        }

    def _run_fit(self, spec: FitSpec) -> tuple[Denoiser, float]:
        params = dict(spec.params)
        upstream = {role: self.fit(up)[0] for role, up in spec.upstream}
        checkpoint = checkpoint_path(self.cache_dir, spec.key)
        model = model_path(self.cache_dir, spec.key)
        method = make_method(spec.method, params=params, device=str(self.check_device(spec)))
        requires = method.requires
        images = self._training_images(spec, method) if _learns_from_images(requires) else ()
        if isinstance(spec.noise, RealNoise):  # the training images are already noisy: hand them over
            check_real_noise_method(spec.noise, requires=requires)
            training = TrainingData(noisy=images, upstream=upstream)
        else:
            training = build_training_data(
                requires,
                clean=images,
                noise_model=spec.noise,
                rng=derive_rng(spec.seed, "train-noise", spec.noise.spec if spec.noise else ""),
                upstream=upstream,
                pair_noise=method.pair_noise,
            )
        resumed = " (resuming)" if any(checkpoint.parent.glob(f"{checkpoint.name}*")) else ""
        self.log(f"[fit] {method.name}: fitting{resumed} ({_describe(spec)})")
        calls = calls_path(self.cache_dir, spec.key)
        earlier, n_calls = count_kept_seconds(calls, checkpoint)
        started = now_utc()
        start = time.perf_counter()
        ledger = json.dumps({"seconds": earlier, "calls": n_calls, "started": time.time()})
        write_atomic(calls, lambda path: path.write_text(ledger))
        with use_precision(spec.precision):
            method.fit(training, seed=spec.seed, progress=self.progress, checkpoint=checkpoint)
        seconds = earlier + time.perf_counter() - start
        report = dict(method.report)
        write_atomic(model, method.save)
        record = {
            "spec": describe_cell(spec),
            "key": spec.key,
            "seconds": seconds,
            "calls": n_calls + 1,
            "report": report,
            "model_sha256": hash_file(model),
            "provenance": self.describe_provenance(started=started),
        }
        written = write_record(record_path(self.cache_dir, "fit", spec.key), record)
        _remove_checkpoints(checkpoint)
        calls.unlink(missing_ok=True)
        self._reports[spec.key] = written["report"]
        return method, seconds

    def check_device(self, spec: FitSpec) -> torch.device:
        """The device to fit ``spec`` on: this process's, which must be of the type the cell was planned
        for (its cache key holds it), so a GPU cell never trains on a node without a GPU.

        Raises
        ------
        ValueError
            The types differ.
        """
        device = self.torch_device
        if METHODS[spec.method].trains_network and device.type != spec.device:
            raise ValueError(
                f"this fit was planned to train on {spec.device}, but this process computes on {device} "
                f"(--device {self.device}); run it where a {spec.device} device is present"
            )
        return device

    def evaluate(self, spec: EvalSpec) -> EvalResult:
        """Return the result of ``spec``, evaluating (and fitting) only what is not cached."""
        self.invalidate([spec])
        final = record_path(self.cache_dir, "eval", spec.key)
        if not final.exists() or (cached := self._load_evaluation(spec, final)) is None:
            final.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(lock_path(self.cache_dir, "eval", spec.key)):
                if not final.exists():  # nobody finished it while we waited for the lock
                    return self._run_evaluation(spec, final)
            return self.evaluate(spec)  # another process finished it meanwhile: load (and check) it
        return cached

    def _load_evaluation(self, spec: EvalSpec, final: Path) -> EvalResult | None:
        """The cached evaluation ``final``, or None when its record is damaged (set aside)."""
        try:
            state = read_record(final)
        except DamagedRecordError as damage:
            set_aside(self.cache_dir, damage, [final])
            return None
        return EvalResult(
            spec=spec,
            stages=[StageResult(**s) for s in state["stages"]],
            fit_seconds=state["fit_seconds"],
            from_cache=True,
            fit_report=state.get("fit_report", {}),
            device=state.get("provenance", {}).get("device", {}).get("name", ""),
            visuals=_read_visuals(state),
        )

    def _run_evaluation(self, spec: EvalSpec, final: Path) -> EvalResult:
        partial = partial_path(self.cache_dir, spec.key)
        method, fit_seconds = self.fit(spec.fit)
        started = now_utc()
        done = _read_partial(partial)
        test = self.dataset(spec.test_data, limit=spec.test_limit, min_size=spec.test_crop)
        pairs = list(draw_noisy_test_set(test, spec))
        visual = {name for name, _, _ in pairs[:VISUAL_IMAGES]}
        label = f"{method.name} {spec.noise} seed {spec.seed}"
        if done:
            self.log(f"[eval] {label}: resuming after {len(done)} finished image evaluations")
        with partial.open("a") as out:
            for stage_name, stage in method.stages().items():
                chunks = [
                    chunk
                    for chunk in _plan_chunks(pairs, stage, self.image_jobs)
                    if not all((stage_name, name) in done for name, _, _ in chunk)
                ]
                groups = [[noisy for _, _, noisy in chunk] for chunk in chunks]
                bar = _progress(chunks, self.progress, f"{stage_name} {spec.noise}")
                with closing(iterate_denoised(stage, groups, jobs=self.image_jobs)) as denoised_chunks:
                    start = said = time.perf_counter()
                    for count, (chunk, outputs) in enumerate(zip(bar, denoised_chunks, strict=True), 1):
                        seconds = (time.perf_counter() - start) / len(chunk)
                        for (name, clean, _), denoised in zip(chunk, outputs, strict=True):
                            row = {
                                "stage": stage_name,
                                "image": name,
                                "psnr": compute_psnr(denoised, clean),
                                "psnr_8bit": compute_psnr(denoised, clean, quantise=True),
                                "ssim": compute_ssim(denoised, clean),
                                "ssim_authors": compute_ssim(denoised, clean, data_range="denoised"),
                                "seconds": seconds,
                                **({"crop": encode_crop(denoised)} if name in visual else {}),
                            }
                            out.write(json.dumps({**row, "checksum": compute_checksum(row)}) + "\n")
                            done[(stage_name, name)] = row
                        out.flush()
                        start = time.perf_counter()
                        if self.progress and not sys.stderr.isatty() and start - said >= PROGRESS_SECONDS:
                            self.log(f"[eval] {label}: {stage_name}, {count} of {len(chunks)} image groups")
                            said = start
        stages = _summarise(done, stage_order=list(method.stages()), n_images=len(pairs))
        state = {
            "spec": describe_cell(spec),
            "key": spec.key,
            "fit_key": spec.fit.key,
            "fit_seconds": fit_seconds,
            "fit_report": self.report(spec.fit),
            "stages": [asdict(s) for s in stages],
            "images": list(done.values()),
            "inputs": {
                name: {
                    "noisy": encode_crop(noisy),
                    "clean": encode_crop(clean),
                    "noisy_psnr": compute_psnr(noisy, clean),
                }
                for name, clean, noisy in pairs[:VISUAL_IMAGES]
            },
            "provenance": self.describe_provenance(started=started),
        }
        write_record(final, state)
        partial.unlink(missing_ok=True)
        for s in stages:
            self.log(
                f"[eval] {s.stage} {spec.noise} seed {spec.seed}: {s.psnr:.2f} dB, SSIM {s.ssim:.4f} "
                f"({s.n_images} images)"
            )
        return EvalResult(
            spec=spec,
            stages=stages,
            fit_seconds=fit_seconds,
            from_cache=False,
            fit_report=self.report(spec.fit),
            device=str(self.torch_device),
            visuals=_read_visuals(state),
        )

    def compute(self, spec: ComputeSpec) -> dict[str, Any]:
        """Return the result of ``spec``, computing it (and the fits it reads) unless cached."""
        self.invalidate([spec])
        final = record_path(self.cache_dir, "compute", spec.key)
        if final.exists():
            try:
                return read_record(final)["result"]
            except DamagedRecordError as damage:
                set_aside(self.cache_dir, damage, [final])
        final.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock_path(self.cache_dir, "compute", spec.key)):
            if not final.exists():  # nobody finished it while we waited for the lock
                for fit in spec.fits:
                    self.fit(fit)
                started = now_utc()
                self.log(f"[compute] {spec.label}: computing")
                # numpy's BLAS sums in another order with another thread count: pin it, so the result
                # depends on --threads and never on the executor (a joblib worker caps it, this process not)
                with threadpool_limits(limits=self.threads):
                    result = find_function(spec.function)(self, spec)
                record = {
                    "spec": describe_cell(spec),
                    "key": spec.key,
                    "result": result,
                    "provenance": self.describe_provenance(started=started),
                }
                return write_record(final, record)["result"]
        return self.compute(spec)  # another process finished it meanwhile: load (and check) it


def _learns_from_images(requires: Requirements) -> bool:
    return requires.clean or requires.noisy_images or requires.pairs


def is_cached(cache_dir: Path, spec: FitSpec | EvalSpec | ComputeSpec) -> bool:
    """Whether ``spec``'s result is finished in ``cache_dir``."""
    return record_path(cache_dir, kind_of(spec), spec.key).exists()


def invalidate_cells(
    cache_dir: Path, specs: list[EvalSpec | FitSpec | ComputeSpec], *, methods: frozenset[str] | None = None
) -> int:
    """Delete the cached results of ``specs`` (and of the fits they build on) so they are recomputed.

    With ``methods``, only fits of those method keys are deleted, with every fit built on one of them
    and the evaluations of all deleted fits; checkpoints and partial evaluations go too. Returns the
    number of cache entries deleted.
    """

    def forced(fit: FitSpec) -> bool:
        return methods is None or fit.method in methods or any(forced(up) for _, up in fit.upstream)

    removed = 0
    evals = [spec for spec in specs if isinstance(spec, EvalSpec)]
    fits = {fit.key: fit for spec in specs for root in list_fits(spec) for fit in walk_fits(root)}
    for key, fit in fits.items():
        folder = fit_folder(cache_dir, key)
        if forced(fit) and folder.exists():
            shutil.rmtree(folder)
            removed += 1
    for spec in evals:
        if forced(spec.fit):
            final = record_path(cache_dir, "eval", spec.key)
            removed += final.exists()
            final.unlink(missing_ok=True)
            partial_path(cache_dir, spec.key).unlink(missing_ok=True)
    for spec in specs:
        if isinstance(spec, ComputeSpec) and (methods is None or any(map(forced, spec.fits))):
            final = record_path(cache_dir, "compute", spec.key)
            removed += final.exists()
            final.unlink(missing_ok=True)
    return removed


def draw_noisy_test_set(test: Dataset, spec: EvalSpec) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Clean/noisy pairs: one seeded noise stream drawn over the images in sorted order; for real noise
    (``real:<level>``), the test set's own noisy images."""
    if isinstance(spec.noise, RealNoise):
        if not (isinstance(test, RealNoiseDataset) and test.noisy):
            raise DataError(
                f"noise {spec.noise.spec!r} needs a test set with noisy images; {test.name!r} has none"
            )
        for name, image, noisy in zip(test.names, test.images, test.noisy, strict=True):
            yield name, crop_centre(image, spec.test_crop), crop_centre(noisy, spec.test_crop)
        return
    rng = derive_rng(spec.seed, "test-noise", spec.noise.spec)
    for name, image in zip(test.names, test.images, strict=True):
        clean = crop_centre(image, spec.test_crop)
        noisy = (clean + spec.noise.sample(clean.shape, rng=rng)).astype(np.float32)
        yield name, clean, noisy


def _plan_chunks(
    pairs: list[tuple[str, np.ndarray, np.ndarray]], stage: Denoiser, jobs: int
) -> list[list[tuple[str, np.ndarray, np.ndarray]]]:
    """The test images in the groups of :func:`~methods.base.iterate_denoised`, each evaluated and recorded
    together: stacks of equal size for a batched stage, ``jobs`` images at a time for another. Groups
    depend only on the test set, so an evaluation resumed after a kill computes the same stacks as an
    uninterrupted one."""
    if stage.batched:
        return [[pairs[i] for i in stack] for stack in plan_batches([noisy.shape for _, _, noisy in pairs])]
    return [pairs[i : i + jobs] for i in range(0, len(pairs), jobs)]


def crop_centre(image: np.ndarray, size: int | None) -> np.ndarray:
    """The centred ``size`` x ``size`` crop of ``image`` (the profile's test crop), or the image for None."""
    if size is None:
        return image
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top : top + size, left : left + size]


def _summarise(
    done: dict[tuple[str, str], dict[str, Any]], *, stage_order: list[str], n_images: int
) -> list[StageResult]:
    stages = []
    for stage in stage_order:
        rows = [r for (s, _), r in done.items() if s == stage]
        if len(rows) != n_images:
            raise RuntimeError(f"stage {stage}: {len(rows)} of {n_images} images evaluated")
        stages.append(
            StageResult(
                stage=stage,
                psnr=float(np.mean([r["psnr"] for r in rows])),
                psnr_8bit=float(np.mean([r["psnr_8bit"] for r in rows])),
                ssim=float(np.mean([r["ssim"] for r in rows])),
                ssim_authors=float(np.mean([r["ssim_authors"] for r in rows])),
                n_images=len(rows),
                denoise_seconds=float(np.mean([r["seconds"] for r in rows])),
            )
        )
    return stages


def _read_visuals(state: Mapping[str, Any]) -> dict[str, dict[str, tuple[np.ndarray, float | None]]]:
    """:attr:`EvalResult.visuals` from an evaluation record."""
    visuals: dict[str, dict[str, tuple[np.ndarray, float | None]]] = {}
    for name, kept in state.get("inputs", {}).items():
        visuals[name] = {
            "noisy": (decode_crop(kept["noisy"]), kept["noisy_psnr"]),
            "clean": (decode_crop(kept["clean"]), None),
        }
    for row in state["images"]:
        if "crop" in row and row["image"] in visuals:
            visuals[row["image"]][row["stage"]] = (decode_crop(row["crop"]), row["psnr"])
    return visuals


def _read_partial(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows of an interrupted evaluation; a line cut short by a kill or not matching its checksum is dropped
    (and evaluated again), with one warning line when that was more than a cut-short last line."""
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if not path.exists():
        return done
    lines = path.read_text().splitlines()
    dropped = 0
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            claimed = row.pop("checksum")
        except (json.JSONDecodeError, AttributeError, KeyError):
            dropped += number < len(lines)  # only the last line may be cut short by a kill
            continue
        if claimed != compute_checksum(row):
            dropped += 1
            continue
        done[(row["stage"], row["image"])] = row
    if dropped:
        print(
            f"warning: {path}: {dropped} damaged lines of an interrupted evaluation dropped; "
            "evaluating those images again",
            file=sys.stderr,
            flush=True,
        )
    return done


def count_kept_seconds(calls: Path, checkpoint: Path) -> tuple[float, int]:
    """The fit seconds of a fit's earlier, interrupted calls that its checkpoints kept, and how many calls.

    ``calls`` is the ledger :meth:`CellRunner.fit` writes as a call starts (the kept seconds of the calls
    before it and its start time). A call kept the work up to the last checkpoint or stage file it wrote
    (``<checkpoint>*``, by modification time): what an interruption threw away is redone and counted once,
    and a call killed before its first checkpoint adds nothing. A fresh fit gives ``(0.0, 0)``.
    """
    try:
        ledger = json.loads(calls.read_text())
        seconds, n_calls, started = float(ledger["seconds"]), int(ledger["calls"]), float(ledger["started"])
    except (OSError, ValueError, KeyError, TypeError):  # no ledger (a fresh fit) or a damaged one
        return 0.0, 0
    written = [path.stat().st_mtime for path in checkpoint.parent.glob(f"{checkpoint.name}*")]
    return seconds + max([0.0, *(mtime - started for mtime in written)]), n_calls + 1


def _remove_checkpoints(checkpoint: Path) -> None:
    """Delete a fit's checkpoint and the stage files named after it (``<checkpoint>-<stage>``)."""
    for path in checkpoint.parent.glob(f"{checkpoint.name}*"):
        path.unlink(missing_ok=True)


def _progress(items: list, enabled: bool, desc: str) -> Iterator:
    """A tqdm bar over ``items`` on a terminal; silent otherwise (the cell's result line is logged)."""
    if not (enabled and sys.stderr.isatty()):
        return iter(items)
    from tqdm.auto import tqdm

    return iter(tqdm(items, desc=desc, leave=False))


def _describe(spec: FitSpec) -> str:
    noise = spec.noise or "noise-independent"
    return f"{spec.train_data}, {noise}, seed {spec.seed}"
