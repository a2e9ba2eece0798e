"""The single training loop (and its helpers) used by every torch method in the project."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import itertools
import math
import os
import signal
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn.functional import l1_loss, mse_loss
from torch.nn.utils.fusion import fuse_conv_bn_eval
from tqdm import tqdm

_LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mse": mse_loss,
    "l1": l1_loss,
}
#: Training time between two checkpoints (seconds): about 10 minutes lost at most, and a checkpoint
#: (up to tens of MiB, fsync'd) rare enough on a GPU not to load a shared filesystem.
CHECKPOINT_SECONDS = 600.0
#: The ``--precision`` choices: float32 arithmetic, or bfloat16 autocast in the training steps.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
_PRECISION: contextvars.ContextVar[str] = contextvars.ContextVar("precision", default="fp32")
# Config fields that change the trained weights; a checkpoint is only resumed when they match.
_RESUME_KEYS = ("steps", "batch_size", "patch_size", "lr", "milestones", "gamma", "loss", "warmup")


def choose_algorithms(*, deterministic: bool) -> None:
    """Deterministic algorithms only (the same numbers on every run on one GPU, slower), or the fastest
    (cuDNN autotuning). On CPU our training and inference are deterministic either way."""
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; read when CUDA starts in this process
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = not deterministic


@contextlib.contextmanager
def use_precision(precision: str) -> Iterator[None]:
    """Train in ``precision`` (one of :data:`PRECISIONS`) inside the block: with ``bf16``,
    :func:`run_training` runs each step under bfloat16 autocast (convolutions and matrix products in
    bf16: a DnCNN step 1.6x faster on an H200, half the activation memory); losses and the critics'
    scores are reduced in float32. Weights, optimizer states, batch drawing and inference stay float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    token = _PRECISION.set(precision)
    try:
        yield
    finally:
        _PRECISION.reset(token)


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a ``--device`` value into a torch device.

    Parameters
    ----------
    name : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    torch.device
    """
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not torch.cuda.is_available():
        raise ValueError(f"CUDA was requested (--device {name}) but torch.cuda.is_available() is False")
    return torch.device(name)


def check_device_name(name: str) -> str:
    """Return ``name`` if it names a device (``auto``, ``cpu``, ``cuda``, ``cuda:N``), whether or not this
    machine has it; else raise ValueError."""
    if name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    raise ValueError(f"unknown device {name!r}; valid values are 'auto', 'cpu', 'cuda' or 'cuda:N'")


def init_seeded(factory: Callable[[], nn.Module], *, seed: int) -> nn.Module:
    """Build a module with a seeded torch CPU RNG, leaving the global RNG state untouched.

    Parameters
    ----------
    factory : callable
        Builds the module on the CPU (its init draws from the torch CPU RNG).
    seed : int
        Seed for ``torch.manual_seed``.

    Returns
    -------
    nn.Module
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return factory()


#: ``objective(net, batch) -> loss`` of one training batch (:func:`train_network`).
Objective = Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for :func:`train_network`.

    ``milestones`` are optimizer steps after which the learning rate is multiplied by ``gamma``;
    ``warmup`` steps raise it linearly from ``lr / warmup`` to ``lr`` first (0: none; the milestones still
    count from the first step); ``checkpoint_seconds`` is the training time between checkpoints.
    """

    steps: int
    batch_size: int
    patch_size: int
    lr: float = 1e-3
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    loss: Literal["mse", "l1"] = "mse"
    warmup: int = 0
    checkpoint_seconds: float = CHECKPOINT_SECONDS


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss or a logged quantity beyond its limit."""


@dataclass
class TrainHistory:
    """What :func:`run_training` logged.

    ``logs[name][i]`` is the mean of quantity ``name`` over the steps logged at ``steps[i]``; ``seconds`` is
    the wall time of this call only; ``resumed_from`` is the checkpoint step it resumed from (0 = fresh);
    ``snapshots[step][module]`` is a module's state (on the CPU) after one of the requested steps.
    """

    steps: list[int]
    logs: dict[str, list[float]]
    seconds: float
    resumed_from: int
    snapshots: dict[int, dict[str, dict[str, torch.Tensor]]] = field(default_factory=dict)

    @property
    def losses(self) -> list[float]:
        """The logged training loss (quantity ``"loss"``)."""
        return self.logs["loss"]

    def final(self, name: str, *, fraction: float = 0.1) -> float:
        """Mean of quantity ``name`` over the last ``fraction`` of the logged values (at least one)."""
        values = self.logs[name]
        return float(np.mean(values[-max(1, round(len(values) * fraction)) :]))


def get_torch_rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """Torch's RNG states a training run on ``device`` draws from: the CPU's, and the GPU's on CUDA."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_torch_rng_state(state: Mapping[str, torch.Tensor], device: torch.device) -> None:
    """Restore :func:`get_torch_rng_state`'s ``state`` for a run on ``device``, whichever device wrote
    it: the CPU's state always, the GPU's when both sides have one (a state written on CPU leaves a GPU
    run's generator as seeded; a GPU's state is ignored on CPU)."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def make_adam(
    parameters: Iterable[nn.Parameter],
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    device: torch.device,
) -> torch.optim.Adam:
    """Adam for parameters that train on ``device``: torch's fused kernel on CUDA (one launch per step
    instead of one per tensor group), the default implementation on CPU, whose results the reports hold."""
    return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=device.type == "cuda")


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` through a temp file in the same folder and a rename: a crash leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def to_batch(array: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """A (B, H, W) array or tensor as a float32 (B, 1, H, W) tensor on ``device``."""
    if isinstance(array, torch.Tensor):
        tensor = array.to(device=device, dtype=torch.float32)
    else:
        data = np.ascontiguousarray(array, dtype=np.float32)
        if (
            not data.flags.writeable
        ):  # torch.from_numpy wants a writable buffer (dataset images are read-only)
            data = data.copy()
        tensor = torch.from_numpy(data).to(device)
    return tensor.unsqueeze(1)


@contextlib.contextmanager
def _seeded_torch_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the CPU RNG (and ``device``'s CUDA RNG) for the duration of the block, then restore them."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


@contextlib.contextmanager
def _defer_interrupt() -> Iterator[threading.Event | None]:
    """Turn the first SIGINT into an event the loop checks between steps (then restore the handler, so a
    second one interrupts at once); yields None where handlers cannot be set (outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    event = threading.Event()
    previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler

    def defer(signum: int, frame: Any) -> None:
        event.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, defer)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def run_training(
    *,
    modules: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, torch.optim.lr_scheduler.LRScheduler],
    step: Callable[[], Mapping[str, torch.Tensor]],
    steps: int,
    settings: Mapping[str, Any],
    seed: int,
    device: torch.device,
    checkpoint_path: Path | None = None,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    limits: Mapping[str, float] | None = None,
    steps_per_epoch: float | None = None,
    snapshot_steps: Iterable[int] = (),
    progress: bool = True,
    desc: str = "train",
) -> TrainHistory:
    """The one training loop: seeding, logging, divergence checks, progress, checkpoints and resume.

    ``step()`` performs one optimisation step (forward, backward, optimizer and scheduler steps) and
    returns the scalar tensors to log; its random draws (batches: :mod:`methods.batches`) come from the
    torch RNG of ``device``. Everything stateful lives in ``modules``, ``optimizers``, ``schedulers`` and
    the torch RNG, so a run resumed from
    ``checkpoint_path`` is bit-identical on CPU to an uninterrupted one. A checkpoint records the device
    that wrote it and resumes on any device (tensors are loaded to the CPU, then moved; the RNG states as
    :func:`set_torch_rng_state` maps them), though not bit-identically across devices. It is written
    atomically after every ``checkpoint_seconds`` of training (wall time, so its cost does not grow with
    the device's speed), and when an interrupt (Ctrl-C) arrives: the step under way finishes, the
    checkpoint is written, then ``KeyboardInterrupt`` is raised (a second Ctrl-C stops at once). It is
    deleted after the last step.

    Parameters
    ----------
    modules, optimizers, schedulers : mapping
        The state to train and checkpoint; modules are moved to ``device``, put in train mode, and left in
        eval mode at the end.
    step : callable
        One optimisation step.
    steps : int
        Number of steps.
    settings : mapping
        Everything that changes the result; a checkpoint written with other settings is refused.
    seed : int
        Seeds the torch RNG (restored afterwards).
    device : torch.device
        Where to train.
    checkpoint_path : Path or None
        Checkpoint file (None = no checkpointing or resuming).
    checkpoint_seconds : float
        Training time between checkpoints (0: after every step).
    limits : mapping or None
        Quantity name -> largest absolute value before the run counts as diverged.
    steps_per_epoch : float or None
        Only used to name the epoch in a divergence message.
    snapshot_steps : iterable of int
        Steps after which to keep a copy of every module's state (``TrainHistory.snapshots``; kept in
        the checkpoint, so a resumed run returns them all), e.g. to draw a test curve afterwards.
    progress : bool
        Report progress on stderr: a tqdm bar (step, loss, ETA) on a terminal, else a line at every
        tenth of the run.
    desc : str
        Label of the bar and of error messages.

    Returns
    -------
    TrainHistory

    Raises
    ------
    TrainingDivergedError
        A logged quantity became NaN or infinite, or exceeded its limit.
    """
    start_time = time.perf_counter()
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    for module in modules.values():
        module.to(device)
        module.train()
    log_every = max(1, steps // 50)
    precision = _PRECISION.get()
    settings = {"seed": seed, "precision": precision, **settings}
    autocast = functools.partial(
        torch.autocast, device.type, dtype=torch.bfloat16, enabled=precision == "bf16"
    )
    logged_steps: list[int] = []
    logs: dict[str, list[float]] = {}
    window: list[dict[str, torch.Tensor]] = []
    keep = set(snapshot_steps)
    snapshots: dict[int, dict[str, dict[str, torch.Tensor]]] = {}
    start = 0

    with _seeded_torch_rng(seed, device):
        if checkpoint_path is not None and checkpoint_path.exists():
            state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
            if state["settings"] != settings:
                raise ValueError(
                    f"checkpoint {checkpoint_path} was written with {state['settings']}, "
                    f"not {settings}; delete it to start afresh"
                )
            start = state["step"]
            for group, objects in (
                ("modules", modules),
                ("optimizers", optimizers),
                ("schedulers", schedulers),
            ):
                for name, obj in objects.items():
                    obj.load_state_dict(state[group][name])
            set_torch_rng_state(state["torch_rng"], device)
            logged_steps, logs = state["logged_steps"], state["logs"]
            snapshots = state.get("snapshots", {})
            window = [{k: v.to(device) for k, v in row.items()} for row in state["window"]]

        interactive = progress and sys.stderr.isatty()
        line_every = max(1, steps // 10)
        bar = tqdm(total=steps, initial=start, desc=desc, disable=not interactive, file=sys.stderr)
        saved = time.perf_counter()
        interrupt = _defer_interrupt() if checkpoint_path is not None else contextlib.nullcontext(None)
        with bar, interrupt as interrupted:
            for current in range(start + 1, steps + 1):
                with autocast():
                    logged = step()
                window.append({k: v.detach().float() for k, v in logged.items()})
                if current % log_every == 0 or current == steps:
                    means = _check_window(
                        window,
                        last_step=current,
                        limits=limits or {},
                        steps_per_epoch=steps_per_epoch,
                        desc=desc,
                    )
                    logged_steps.append(current)
                    for key, value in means.items():
                        logs.setdefault(key, []).append(value)
                    window = []
                    if "loss" in means:
                        bar.set_postfix(loss=f"{means['loss']:.4g}", refresh=False)
                if current in keep:
                    snapshots[current] = {
                        name: {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}
                        for name, m in modules.items()
                    }
                bar.update()
                if progress and not interactive and (current % line_every == 0 or current == steps):
                    _log_progress(
                        desc, current=current, steps=steps, start=start, logs=logs, since=start_time
                    )
                stop = interrupted is not None and interrupted.is_set()
                due = time.perf_counter() - saved >= checkpoint_seconds
                if checkpoint_path is not None and (current < steps or stop) and (due or stop):
                    save_atomic(
                        {
                            "step": current,
                            "settings": settings,
                            "modules": {k: m.state_dict() for k, m in modules.items()},
                            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                            "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
                            "torch_rng": get_torch_rng_state(device),
                            "device": str(device),
                            "logged_steps": logged_steps,
                            "logs": logs,
                            "window": [{k: v.cpu() for k, v in row.items()} for row in window],
                            "snapshots": snapshots,
                        },
                        checkpoint_path,
                    )
                    saved = time.perf_counter()
                if stop:
                    raise KeyboardInterrupt(f"{desc}: interrupted after step {current}, checkpoint written")

    if checkpoint_path is not None:
        checkpoint_path.unlink(missing_ok=True)
    for module in modules.values():
        module.eval()
    return TrainHistory(
        steps=logged_steps,
        logs=logs,
        seconds=time.perf_counter() - start_time,
        resumed_from=start,
        snapshots=snapshots,
    )


def _log_progress(
    desc: str, *, current: int, steps: int, start: int, logs: dict[str, list[float]], since: float
) -> None:
    """One progress line on stderr (when it is not a terminal): step, last logged loss, elapsed, ETA."""
    elapsed = time.perf_counter() - since
    eta = elapsed / max(1, current - start) * (steps - current)
    loss = f", loss {logs['loss'][-1]:.4g}" if logs.get("loss") else ""
    print(
        f"{desc}: step {current}/{steps}{loss}, {elapsed:.0f} s elapsed, ETA {eta:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def _check_window(
    window: list[dict[str, torch.Tensor]],
    *,
    last_step: int,
    limits: Mapping[str, float],
    steps_per_epoch: float | None,
    desc: str,
) -> dict[str, float]:
    """Means of the logged quantities since the last log; raise if any step diverged."""
    stacked = {key: torch.stack([row[key] for row in window]).float().cpu() for key in window[0]}
    for key, values in stacked.items():
        limit = limits.get(key, math.inf)
        bad = ~torch.isfinite(values) | (values.abs() > limit)
        if bad.any():
            index = int(bad.nonzero()[0, 0])
            at = last_step - len(window) + 1 + index
            epoch = f" (epoch {math.floor((at - 1) / steps_per_epoch) + 1})" if steps_per_epoch else ""
            reason = "is not finite" if not math.isfinite(values[index]) else f"exceeds its limit {limit:g}"
            raise TrainingDivergedError(
                f"{desc} diverged at step {at}{epoch}: {key} = {float(values[index]):.4g} {reason}; "
                "nothing of this run was saved as a fitted model"
            )
    return {key: float(values.mean()) for key, values in stacked.items()}


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule of ``config``: MultiStepLR, after a linear warmup where ``warmup`` > 0.

    Adam's first steps move every weight by about the learning rate whatever its gradient; in a short
    training of a residual DnCNN at 1e-3 they throw the loss to several times the identity's, and the net
    then sits on the identity plateau for hundreds of steps (README, Blind benchmark). A warmup of a few
    dozen steps avoids it.
    """
    milestones, gamma, warmup = config.milestones, config.gamma, config.warmup
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if not warmup:
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * gamma ** sum(step >= m for m in milestones)
    )


def train_network(
    net: nn.Module,
    *,
    draw_batch: Callable[[], tuple[torch.Tensor, ...] | tuple[np.ndarray, ...]],
    config: TrainConfig,
    seed: int,
    device: torch.device,
    objective: Objective | None = None,
    checkpoint_path: Path | None = None,
    snapshot_steps: Iterable[int] = (),
    progress: bool = True,
    desc: str = "train",
) -> TrainHistory:
    """Train ``net`` in place with Adam and :func:`make_scheduler`'s schedule on ``draw_batch`` batches
    (:func:`run_training`).

    Parameters
    ----------
    net : nn.Module
        Network mapping (B, 1, H, W) inputs to outputs of the same shape; moved to ``device``.
    draw_batch : callable
        ``draw_batch() -> (inputs, targets)`` or ``(inputs, targets, mask)``: float32 arrays or tensors
        of shape (B, H, W). With a mask the loss is the mean over the pixels where it is nonzero
        (Noise2Void's blind-spot loss).
    config : TrainConfig
        Optimisation settings.
    seed : int
        Seeds the torch RNG that ``draw_batch`` and the training draw from.
    device : torch.device
        Where to train.
    objective : callable or None
        ``objective(net, batch) -> loss`` for a loss that is not ``config.loss`` between ``net(inputs)``
        and ``targets`` (Neighbor2Neighbor runs the network twice); ``batch`` is what ``draw_batch``
        returned.
    checkpoint_path : Path or None
        Checkpoint file (None = no checkpointing or resuming).
    snapshot_steps : iterable of int
        Steps after which to keep a copy of the net's state (``TrainHistory.snapshots[step]["net"]``).
    progress : bool
        Show a tqdm bar on stderr.
    desc : str
        Label of the bar.

    Returns
    -------
    TrainHistory
        Its ``logs`` hold ``loss`` and, without an ``objective``, ``identity_loss``: the same loss scored
        by the inputs themselves, so a net whose loss stays there has learnt nothing (the identity
        plateau of a residual DnCNN). The net is left in eval mode.
    """
    loss_fn = _LOSSES[config.loss]
    optimizer = make_adam(net.parameters(), lr=config.lr, device=device)
    scheduler = make_scheduler(optimizer, config)

    def fit_targets(net: nn.Module, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        inputs, targets, *mask = batch
        if inputs.ndim != 3 or any(a.shape != inputs.shape for a in (targets, *mask)):
            shapes = ", ".join(str(a.shape) for a in (inputs, targets, *mask))
            raise ValueError(f"draw_batch must return (B, H, W) arrays of one shape, got {shapes}")
        inputs, wanted = to_batch(inputs, device), to_batch(targets, device)
        weights = to_batch(mask[0], device) if mask else None

        def score(outputs: torch.Tensor) -> torch.Tensor:
            if weights is None:
                return loss_fn(outputs, wanted)
            return loss_fn(outputs, wanted, reduction="none").mul(weights).sum() / weights.sum().clamp_min(1)

        with torch.no_grad():
            identity = score(inputs)
        return {"loss": score(net(inputs).float()), "identity_loss": identity}

    def step() -> dict[str, torch.Tensor]:
        with torch.autocast(device.type, enabled=False):  # data (G2G pairs, learned noise) in float32
            batch = draw_batch()
        logs = fit_targets(net, batch) if objective is None else {"loss": objective(net, batch)}
        optimizer.zero_grad(set_to_none=True)
        logs["loss"].backward()
        optimizer.step()
        scheduler.step()
        return logs

    return run_training(
        modules={"net": net},
        optimizers={"net": optimizer},
        schedulers={"net": scheduler},
        step=step,
        steps=config.steps,
        settings={key: asdict(config)[key] for key in _RESUME_KEYS},
        seed=seed,
        device=device,
        checkpoint_path=checkpoint_path,
        checkpoint_seconds=config.checkpoint_seconds,
        snapshot_steps=snapshot_steps,
        progress=progress,
        desc=desc,
    )


def refresh_batch_norm(net: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Re-estimate every BN layer's running statistics as the average over ``batches``, then set eval mode.

    A network trained for few steps keeps running statistics that lag its weights (momentum 0.1 from
    mean 0, variance 1), so its eval-mode output differs from its train-mode output. Recomputing them
    with the final weights removes that lag; the parameters are untouched.

    Parameters
    ----------
    net : nn.Module
        Network with BatchNorm layers, on the device of ``batches``.
    batches : iterable of Tensor
        Inputs representative of what the network will see.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    net.train()
    try:
        with torch.no_grad():
            for batch in batches:
                net(batch)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        net.eval()


#: Pixels per forward pass above which :func:`apply_network` tiles an image (about 1 GB of DnCNN-17
#: activations in float32).
MAX_PIXELS = 2048 * 2048


def apply_network(
    net: nn.Module, image: np.ndarray, *, device: torch.device, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Run a whole image (or a batch of equal-size images) through ``net`` in eval mode (its BatchNorm
    layers folded into the convolutions, :func:`fold_batch_norm`).

    An image of more than ``max_pixels`` pixels goes through in overlapping tiles whose margin is the
    network's receptive-field radius, so the tiled output equals the untiled one (up to float
    rounding); a network whose radius is unknown (not a stack of convolutions) is never tiled.

    Parameters
    ----------
    net : nn.Module
        Trained network; moved to ``device``; its own train/eval mode is left as it is.
    image : ndarray
        ``(H, W)`` image or ``(N, H, W)`` batch.
    device : torch.device
        Where to run.
    max_pixels : int
        Largest tile (including its margins) per forward pass.

    Returns
    -------
    ndarray
        float32 array of the input's shape.
    """
    if image.ndim not in (2, 3):
        raise ValueError(f"apply_network expects (H, W) or (N, H, W), got shape {image.shape}")
    stack = image if image.ndim == 3 else image[None]
    net.to(device)
    with torch.no_grad():
        folded = fold_batch_norm(net)
    with torch.inference_mode():
        result = _apply_tiled(folded, stack, device=device, max_pixels=max_pixels)
    return result if image.ndim == 3 else result[0]


#: Folded copies of the networks :func:`apply_network` has run, with the weights they were folded from.
_FOLDED: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[tuple[int, int], ...], nn.Module]] = (
    weakref.WeakKeyDictionary()
)


def fold_batch_norm(net: nn.Module) -> nn.Module:
    """An eval-mode copy of ``net`` with every BatchNorm that follows a convolution inside an
    ``nn.Sequential`` folded into that convolution (torch's ``fuse_conv_bn_eval``).

    The copy computes the eval-mode function of ``net`` (up to float rounding) without the BatchNorm
    passes: about 18% faster DnCNN inference on CPU. It is kept until a weight or statistic of ``net``
    changes (a training step, ``load_state_dict``, a move to another device).
    """
    state = tuple((t.data_ptr(), t._version) for t in itertools.chain(net.parameters(), net.buffers()))
    cached = _FOLDED.get(net)
    if cached is not None and cached[0] == state:
        return cached[1]
    folded = copy.deepcopy(net).eval()
    for sequence in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        names = list(sequence._modules)
        for name, following in itertools.pairwise(names):
            conv, norm = sequence._modules[name], sequence._modules[following]
            if isinstance(conv, nn.Conv2d | nn.ConvTranspose2d) and isinstance(norm, nn.BatchNorm2d):
                transpose = isinstance(conv, nn.ConvTranspose2d)
                sequence._modules[name] = fuse_conv_bn_eval(conv, norm, transpose=transpose)
                sequence._modules[following] = nn.Identity()
    _FOLDED[net] = (state, folded)
    return folded


def _apply_tiled(net: nn.Module, stack: np.ndarray, *, device: torch.device, max_pixels: int) -> np.ndarray:
    h, w = stack.shape[-2:]
    margin = receptive_radius(net)
    side = math.isqrt(max_pixels)
    if h * w <= max_pixels or margin is None or side <= 2 * margin:
        return net(to_batch(stack, device))[:, 0].float().cpu().numpy()
    core = side - 2 * margin
    out = np.empty(stack.shape, dtype=np.float32)
    for y0 in range(0, h, core):
        for x0 in range(0, w, core):
            y1, x1 = min(y0 + core, h), min(x0 + core, w)
            ty0, tx0, ty1, tx1 = (
                max(0, y0 - margin),
                max(0, x0 - margin),
                min(h, y1 + margin),
                min(w, x1 + margin),
            )
            tile = net(to_batch(np.ascontiguousarray(stack[:, ty0:ty1, tx0:tx1]), device))
            out[:, y0:y1, x0:x1] = tile[:, 0, y0 - ty0 : y1 - ty0, x0 - tx0 : x1 - tx0].float().cpu().numpy()
    return out


def receptive_radius(net: nn.Module) -> int | None:
    """How far (pixels) an output pixel of a stack of stride-1 convolutions sees; None for other nets."""
    radius = 0
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            if module.stride != (1, 1):
                return None
            radius += max(d * (k - 1) // 2 for k, d in zip(module.kernel_size, module.dilation, strict=True))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.Upsample, nn.ConvTranspose2d)):
            return None
    return radius
