"""The single training loop (and its helpers) used by every torch method in the project."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn.functional import l1_loss, mse_loss
from tqdm import tqdm

_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mse_loss,
    "l1": l1_loss,
}
# Config fields that change the trained weights; a checkpoint is only resumed when they match.
_RESUME_KEYS = ("steps", "batch_size", "patch_size", "lr", "milestones", "gamma", "loss")


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
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError("CUDA was requested (--device cuda) but torch.cuda.is_available() is False")
        return torch.device(name)
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


def sample_patches(
    images: Sequence[np.ndarray],
    *,
    size: int,
    count: int,
    rng: np.random.Generator,
    augment: bool = True,
) -> np.ndarray:
    """Crop random square patches, optionally with a random dihedral transform each.

    Parameters
    ----------
    images : sequence of ndarray
        2-D images, each at least ``size`` x ``size``.
    size : int
        Patch side.
    count : int
        Number of patches.
    rng : numpy.random.Generator
        Source of every random draw (image index, position, transform).
    augment : bool
        Apply one of the 8 rot90/flip transforms, drawn uniformly, to each patch.

    Returns
    -------
    ndarray
        ``(count, size, size)`` float32 copies.
    """
    if not images:
        raise ValueError("sample_patches needs at least one image")
    for i, im in enumerate(images):
        if im.ndim != 2 or min(im.shape) < size:
            raise ValueError(
                f"image {i} has shape {im.shape}; patches need 2-D images of at least {size}x{size}"
            )
    shapes = np.array([im.shape for im in images])
    index = rng.integers(len(images), size=count)
    top = rng.integers(0, shapes[index, 0] - size + 1)
    left = rng.integers(0, shapes[index, 1] - size + 1)
    out = np.empty((count, size, size), dtype=np.float32)
    for k, (i, y, x) in enumerate(zip(index.tolist(), top.tolist(), left.tolist(), strict=True)):
        out[k] = images[i][y : y + size, x : x + size]
    if augment:
        transform = rng.integers(8, size=count)
        for code in range(1, 8):
            sel = transform == code
            if sel.any():
                block = np.rot90(out[sel], k=code % 4, axes=(1, 2))
                out[sel] = block[:, :, ::-1] if code >= 4 else block
    return out


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for :func:`train_network`.

    ``milestones`` are optimizer steps after which the learning rate is multiplied by ``gamma``;
    ``checkpoint_every`` is the number of steps between checkpoints (0 = never).
    """

    steps: int
    batch_size: int
    patch_size: int
    lr: float = 1e-3
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    loss: Literal["mse", "l1"] = "mse"
    checkpoint_every: int = 200


@dataclass
class TrainHistory:
    """What :func:`train_network` logged.

    ``losses[i]`` is the mean loss over the steps logged at ``steps[i]``; ``seconds`` is the wall time of
    this call only; ``resumed_from`` is the checkpoint step it resumed from (0 = fresh start).
    """

    steps: list[int]
    losses: list[float]
    seconds: float
    resumed_from: int


def _get_torch_rng(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_torch_rng(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def _save_atomic(obj: Any, path: Path) -> None:
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


def _to_batch(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return tensor.unsqueeze(1).to(device)


@contextlib.contextmanager
def _seeded_torch_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the CPU RNG (and ``device``'s CUDA RNG) for the duration of the block, then restore them."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def train_network(
    net: nn.Module,
    *,
    draw_batch: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    config: TrainConfig,
    seed: int,
    device: torch.device,
    checkpoint_path: Path | None = None,
    progress: bool = True,
    desc: str = "train",
) -> TrainHistory:
    """Train ``net`` in place with Adam + MultiStepLR on batches from ``draw_batch``.

    Resumes from ``checkpoint_path`` when it exists (bit-identical to an uninterrupted run on CPU), writes
    it atomically every ``config.checkpoint_every`` steps and deletes it after the last step.

    Parameters
    ----------
    net : nn.Module
        Network mapping (B, 1, H, W) inputs to outputs of the same shape; moved to ``device``.
    draw_batch : callable
        ``draw_batch(rng) -> (inputs, targets)``, float32 arrays of shape (B, H, W).
    config : TrainConfig
        Optimisation settings.
    seed : int
        Seeds the numpy generator passed to ``draw_batch`` and the torch RNG used during training.
    device : torch.device
        Where to train.
    checkpoint_path : Path or None
        Checkpoint file (None = no checkpointing or resuming).
    progress : bool
        Show a tqdm bar on stderr.
    desc : str
        Label of the bar.

    Returns
    -------
    TrainHistory
        The net is left in eval mode.
    """
    start_time = time.perf_counter()
    loss_fn = _LOSSES[config.loss]
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    net.to(device)
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(config.milestones), gamma=config.gamma
    )
    rng = np.random.default_rng(seed)
    log_every = max(1, config.steps // 50)
    settings = {"seed": seed, **{key: asdict(config)[key] for key in _RESUME_KEYS}}
    logged_steps: list[int] = []
    logged_losses: list[float] = []
    window: list[torch.Tensor] = []
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
            net.load_state_dict(state["net"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            rng.bit_generator.state = state["numpy_rng"]
            _set_torch_rng(state["torch_rng"], device)
            logged_steps, logged_losses = state["logged_steps"], state["logged_losses"]
            window = [loss.to(device) for loss in state["window"]]

        bar = tqdm(total=config.steps, initial=start, desc=desc, disable=not progress, file=sys.stderr)
        with bar:
            for step in range(start + 1, config.steps + 1):
                inputs, targets = draw_batch(rng)
                if inputs.ndim != 3 or inputs.shape != targets.shape:
                    raise ValueError(
                        f"draw_batch must return two (B, H, W) arrays, got {inputs.shape} and {targets.shape}"
                    )
                loss = loss_fn(net(_to_batch(inputs, device)), _to_batch(targets, device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                window.append(loss.detach())
                if step % log_every == 0 or step == config.steps:
                    logged_steps.append(step)
                    logged_losses.append(torch.stack(window).mean().item())
                    window = []
                    bar.set_postfix(loss=f"{logged_losses[-1]:.4g}", refresh=False)
                bar.update()
                if (
                    checkpoint_path is not None
                    and config.checkpoint_every > 0
                    and step % config.checkpoint_every == 0
                    and step < config.steps
                ):
                    _save_atomic(
                        {
                            "step": step,
                            "settings": settings,
                            "net": net.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(),
                            "numpy_rng": rng.bit_generator.state,
                            "torch_rng": _get_torch_rng(device),
                            "logged_steps": logged_steps,
                            "logged_losses": logged_losses,
                            "window": [loss.cpu() for loss in window],
                        },
                        checkpoint_path,
                    )

    if checkpoint_path is not None:
        checkpoint_path.unlink(missing_ok=True)
    net.eval()
    return TrainHistory(
        steps=logged_steps,
        losses=logged_losses,
        seconds=time.perf_counter() - start_time,
        resumed_from=start,
    )


def apply_network(net: nn.Module, image: np.ndarray, *, device: torch.device) -> np.ndarray:
    """Run a whole image (or a batch of equal-size images) through ``net`` in eval mode.

    Parameters
    ----------
    net : nn.Module
        Trained network; moved to ``device``; its train/eval mode is restored afterwards.
    image : ndarray
        ``(H, W)`` image or ``(N, H, W)`` batch.
    device : torch.device
        Where to run.

    Returns
    -------
    ndarray
        float32 array of the input's shape.
    """
    if image.ndim not in (2, 3):
        raise ValueError(f"apply_network expects (H, W) or (N, H, W), got shape {image.shape}")
    batch = _to_batch(image if image.ndim == 3 else image[None], device)
    was_training = net.training
    net.to(device)
    net.eval()
    try:
        with torch.inference_mode():
            out = net(batch)
    finally:
        net.train(was_training)
    result = out[:, 0].float().cpu().numpy()
    return result if image.ndim == 3 else result[0]
