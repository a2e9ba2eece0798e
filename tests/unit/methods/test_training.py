"""Tests for methods.training."""

from __future__ import annotations

import copy
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from methods.nets import DnCNN
from methods.training import (
    TrainConfig,
    apply_network,
    fold_batch_norm,
    init_seeded,
    make_adam,
    make_scheduler,
    receptive_radius,
    resolve_device,
    set_torch_rng_state,
    train_network,
)

CPU = torch.device("cpu")


def make_net(seed: int = 0) -> DnCNN:
    return init_seeded(lambda: DnCNN(depth=3, features=8), seed=seed)


def make_draw_batch(
    *, batch: int = 8, size: int = 12, sigma: float = 0.1, fail_at: int | None = None
) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """Constant-ish clean patches plus Gaussian noise, from torch's RNG (as the methods' batches);
    raises on call number ``fail_at``."""
    calls = 0

    def draw_batch() -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal calls
        calls += 1
        if calls == fail_at:
            raise KeyboardInterrupt("simulated kill")
        clean = 0.2 + 0.6 * torch.rand(batch, 1, 1) + 0.01 * torch.randn(batch, size, size)
        return clean + sigma * torch.randn(clean.shape), clean

    return draw_batch


def params_of(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


# resolve_device -----------------------------------------------------------------------------------


def test_resolve_device_cpu_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    assert resolve_device() == CPU


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_resolve_device_cuda_unavailable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"CUDA was requested \(--device cuda(:0)?\) but torch"):
        resolve_device(name)


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", ""])
def test_resolve_device_unknown(name: str) -> None:
    with pytest.raises(ValueError, match="valid values are 'auto', 'cpu', 'cuda'"):
        resolve_device(name)


# init_seeded --------------------------------------------------------------------------------------


def test_init_seeded_reproducible_and_seed_dependent() -> None:
    a, b, c = make_net(3), make_net(3), make_net(4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


def test_init_seeded_leaves_global_rng_untouched() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    make_net(7)
    assert torch.equal(torch.get_rng_state(), before)


# train_network ------------------------------------------------------------------------------------


def test_train_network_learns_and_reports_history() -> None:
    net = make_net()
    config = TrainConfig(steps=60, batch_size=8, patch_size=12, lr=1e-2)
    history = train_network(
        net, draw_batch=make_draw_batch(), config=config, seed=0, device=CPU, progress=False
    )
    assert history.steps == list(range(1, 61))  # log_every = max(1, 60 // 50)
    assert len(history.losses) == 60
    assert history.losses[-1] < 0.3 * history.losses[0]
    assert history.resumed_from == 0
    assert history.seconds > 0
    assert not net.training


def test_train_network_logs_window_means() -> None:
    config = TrainConfig(steps=230, batch_size=2, patch_size=12)
    history = train_network(
        make_net(), draw_batch=make_draw_batch(batch=2), config=config, seed=0, device=CPU, progress=False
    )
    assert history.steps == [*range(4, 229, 4), 230]


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_train_network_first_loss_matches_criterion(loss: str) -> None:
    net = make_net()
    reference = copy.deepcopy(net).train()
    draw = make_draw_batch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)  # train_network seeds torch's RNG with its seed
        noisy, clean = draw()
    with torch.no_grad():
        err = reference(noisy[:, None]) - clean[:, None]
    expected = (err**2).mean().item() if loss == "mse" else err.abs().mean().item()
    config = TrainConfig(steps=2, batch_size=8, patch_size=12, loss=loss)
    history = train_network(
        net, draw_batch=make_draw_batch(), config=config, seed=11, device=CPU, progress=False
    )
    assert history.losses[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("masked", [False, True])
def test_identity_loss_is_what_returning_the_input_scores(masked: bool) -> None:
    """A net frozen at the identity (lr 0) scores exactly the logged identity loss; a trained one less."""
    draw = make_draw_batch()

    def draw_batch() -> tuple[torch.Tensor, ...]:
        noisy, clean = draw()
        return (noisy, clean, (torch.rand(noisy.shape) < 0.3).float()) if masked else (noisy, clean)

    identity = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        identity.weight.zero_()[0, 0, 1, 1] = 1.0
    frozen = TrainConfig(steps=20, batch_size=8, patch_size=12, lr=0.0)
    history = train_network(
        identity, draw_batch=draw_batch, config=frozen, seed=0, device=CPU, progress=False
    )
    assert history.logs["loss"] == pytest.approx(history.logs["identity_loss"], rel=1e-6)
    learning = TrainConfig(steps=60, batch_size=8, patch_size=12, lr=1e-2)
    history = train_network(
        make_net(), draw_batch=draw_batch, config=learning, seed=0, device=CPU, progress=False
    )
    assert history.final("loss") < 0.5 * history.final("identity_loss")


def test_train_network_lr_schedule(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt.pt"
    config = TrainConfig(
        steps=10, batch_size=4, patch_size=12, milestones=(2, 4), gamma=0.5, checkpoint_seconds=0.0
    )
    with pytest.raises(KeyboardInterrupt):
        train_network(
            make_net(),
            draw_batch=make_draw_batch(fail_at=7),
            config=config,
            seed=0,
            device=CPU,
            checkpoint_path=ckpt,
            progress=False,
        )
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 6  # a checkpoint after every step; the 7th failed
    assert state["optimizers"]["net"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.25)


def test_train_network_lr_zero_after_milestone_freezes_weights() -> None:
    def run(steps: int) -> list[torch.Tensor]:
        net = make_net()
        config = TrainConfig(steps=steps, batch_size=4, patch_size=12, milestones=(3,), gamma=0.0)
        train_network(net, draw_batch=make_draw_batch(), config=config, seed=0, device=CPU, progress=False)
        return params_of(net)

    after3, after8 = run(3), run(8)
    assert all(torch.equal(p, q) for p, q in zip(after3, after8, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(after3, params_of(make_net()), strict=True))


@pytest.mark.parametrize("warmup", [0, 5])
def test_train_network_resume_is_bit_identical(tmp_path: Path, warmup: int) -> None:
    config = TrainConfig(
        steps=12, batch_size=4, patch_size=12, milestones=(9,), warmup=warmup, checkpoint_seconds=0.0
    )
    kwargs = {"config": config, "seed": 3, "device": CPU, "progress": False}

    reference = make_net()
    full = train_network(reference, draw_batch=make_draw_batch(), checkpoint_path=tmp_path / "a.pt", **kwargs)

    ckpt = tmp_path / "b.pt"
    with pytest.raises(KeyboardInterrupt):
        train_network(make_net(), draw_batch=make_draw_batch(fail_at=8), checkpoint_path=ckpt, **kwargs)
    assert ckpt.exists()
    assert list(tmp_path.iterdir()) == [ckpt]  # no temp files left behind
    resumed_net = make_net(seed=99)  # init is irrelevant: everything comes from the checkpoint
    resumed = train_network(resumed_net, draw_batch=make_draw_batch(), checkpoint_path=ckpt, **kwargs)

    assert resumed.resumed_from == 7
    assert full.resumed_from == 0
    assert resumed.steps == full.steps
    assert resumed.losses == full.losses
    ref_state, new_state = reference.state_dict(), resumed_net.state_dict()
    assert ref_state.keys() == new_state.keys()
    assert all(torch.equal(ref_state[k], new_state[k]) for k in ref_state)
    assert not ckpt.exists()
    assert not (tmp_path / "a.pt").exists()


def learning_rates(config: TrainConfig) -> list[float]:
    """The learning rate of each of ``config.steps`` optimizer steps under :func:`make_scheduler`."""
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = make_scheduler(optimizer, config)
    rates = []
    for _ in range(config.steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warmup_ramps_the_learning_rate_then_the_milestones_apply() -> None:
    common = {"steps": 10, "batch_size": 1, "patch_size": 8, "lr": 1e-3, "milestones": (6, 8), "gamma": 0.5}
    plain, warm = learning_rates(TrainConfig(**common)), learning_rates(TrainConfig(**common, warmup=4))
    np.testing.assert_allclose(plain, [1e-3] * 6 + [5e-4] * 2 + [2.5e-4] * 2)
    np.testing.assert_allclose(warm, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])
    with pytest.raises(ValueError, match="warmup must be >= 0"):
        learning_rates(TrainConfig(**common, warmup=-1))


def test_snapshots_are_the_states_after_their_steps_and_survive_a_resume(tmp_path: Path) -> None:
    config = TrainConfig(steps=12, batch_size=4, patch_size=12, checkpoint_seconds=0.0)
    kwargs = {"config": config, "seed": 3, "device": CPU, "progress": False, "snapshot_steps": (4, 10)}
    full = train_network(make_net(), draw_batch=make_draw_batch(), **kwargs)
    assert sorted(full.snapshots) == [4, 10]

    short = make_net()  # a run of 4 steps (no milestones) ends where the 12-step run was after step 4
    train_network(
        short,
        draw_batch=make_draw_batch(),
        **{**kwargs, "config": TrainConfig(steps=4, batch_size=4, patch_size=12)},
    )
    for key, value in short.state_dict().items():
        assert torch.equal(full.snapshots[4]["net"][key], value), key
    assert not torch.equal(
        full.snapshots[4]["net"]["body.0.weight"], full.snapshots[10]["net"]["body.0.weight"]
    )

    ckpt = tmp_path / "b.pt"
    with pytest.raises(KeyboardInterrupt):  # killed at step 8: the step-4 snapshot is in the checkpoint
        train_network(make_net(), draw_batch=make_draw_batch(fail_at=8), checkpoint_path=ckpt, **kwargs)
    resumed = train_network(make_net(), draw_batch=make_draw_batch(), checkpoint_path=ckpt, **kwargs)
    assert resumed.resumed_from == 7 and sorted(resumed.snapshots) == [4, 10]
    for step in (4, 10):
        for key, value in full.snapshots[step]["net"].items():
            assert torch.equal(resumed.snapshots[step]["net"][key], value), (step, key)


@pytest.mark.usefixtures("default_sigint")
def test_ctrl_c_finishes_the_step_writes_a_checkpoint_and_resumes_bit_identically(tmp_path: Path) -> None:
    config = TrainConfig(steps=12, batch_size=4, patch_size=12)  # none due in 10 minutes
    kwargs = {"config": config, "seed": 3, "device": CPU, "progress": False}
    reference = make_net()
    train_network(reference, draw_batch=make_draw_batch(), **kwargs)

    draw = make_draw_batch()
    calls = 0

    def draw_then_ctrl_c() -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal calls
        calls += 1
        if calls == 7:  # Ctrl-C arrives while step 7 draws its batch
            signal.raise_signal(signal.SIGINT)
        return draw()

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt, match="after step 7"):
        train_network(make_net(), draw_batch=draw_then_ctrl_c, checkpoint_path=ckpt, **kwargs)
    assert torch.load(ckpt, weights_only=True)["step"] == 7
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored
    resumed_net = make_net(seed=99)
    resumed = train_network(resumed_net, draw_batch=make_draw_batch(), checkpoint_path=ckpt, **kwargs)
    assert resumed.resumed_from == 7
    assert all(torch.equal(a, b) for a, b in zip(params_of(reference), params_of(resumed_net), strict=True))


def test_a_checkpoint_written_on_a_gpu_resumes_on_the_cpu(tmp_path: Path) -> None:
    """A checkpoint carrying a CUDA RNG state and naming a GPU (as one written there does) resumes on
    the CPU, from the CPU's RNG state, to the weights of an uninterrupted CPU run."""
    config = TrainConfig(steps=10, batch_size=4, patch_size=12, checkpoint_seconds=0.0)
    kwargs = {"config": config, "seed": 3, "device": CPU, "progress": False}
    reference = make_net()
    train_network(reference, draw_batch=make_draw_batch(), **kwargs)

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        train_network(make_net(), draw_batch=make_draw_batch(fail_at=6), checkpoint_path=ckpt, **kwargs)
    state = torch.load(ckpt, weights_only=True)
    assert state["device"] == "cpu"  # the device that wrote it is recorded
    state["device"] = "cuda:0"
    state["torch_rng"]["cuda"] = torch.zeros(16, dtype=torch.uint8)
    torch.save(state, ckpt)
    resumed_net = make_net(seed=99)
    resumed = train_network(resumed_net, draw_batch=make_draw_batch(), checkpoint_path=ckpt, **kwargs)
    assert resumed.resumed_from == 5
    assert all(torch.equal(a, b) for a, b in zip(params_of(reference), params_of(resumed_net), strict=True))


def test_a_cpu_rng_state_restores_for_a_gpu_run_without_touching_cuda() -> None:
    """A checkpoint written on the CPU has no CUDA RNG state: a GPU run restores the CPU's and keeps
    its seeded CUDA generator (no ``KeyError: 'cuda'``, and no CUDA call where there is no GPU)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        state = {"cpu": torch.get_rng_state()}
        expected = torch.rand(3)
        torch.manual_seed(6)
        set_torch_rng_state(state, torch.device("cuda", 0))
        assert torch.equal(torch.rand(3), expected)


def test_train_network_rejects_checkpoint_of_other_settings(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt.pt"
    config = TrainConfig(steps=6, batch_size=4, patch_size=12, checkpoint_seconds=0.0)
    with pytest.raises(KeyboardInterrupt):
        train_network(
            make_net(),
            draw_batch=make_draw_batch(fail_at=4),
            config=config,
            seed=0,
            device=CPU,
            checkpoint_path=ckpt,
            progress=False,
        )
    with pytest.raises(ValueError, match="delete it"):
        train_network(
            make_net(),
            draw_batch=make_draw_batch(),
            config=config,
            seed=1,
            device=CPU,
            checkpoint_path=ckpt,
            progress=False,
        )


def test_train_network_leaves_global_rng_untouched() -> None:
    torch.manual_seed(0)
    before = torch.get_rng_state()
    config = TrainConfig(steps=2, batch_size=2, patch_size=12)
    train_network(
        make_net(), draw_batch=make_draw_batch(batch=2), config=config, seed=0, device=CPU, progress=False
    )
    assert torch.equal(torch.get_rng_state(), before)


def test_train_network_rejects_bad_batch_shape() -> None:
    config = TrainConfig(steps=2, batch_size=2, patch_size=12)

    def draw_batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(2, 1, 12, 12)
        return x, x

    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        train_network(make_net(), draw_batch=draw_batch, config=config, seed=0, device=CPU, progress=False)


def test_train_network_progress_bar_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    config = TrainConfig(steps=3, batch_size=2, patch_size=12)
    train_network(
        make_net(), draw_batch=make_draw_batch(batch=2), config=config, seed=0, device=CPU, desc="tiny"
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "tiny" in captured.err and "3/3" in captured.err and "loss=" in captured.err


def test_train_network_progress_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    config = TrainConfig(steps=20, batch_size=2, patch_size=12)
    train_network(
        make_net(), draw_batch=make_draw_batch(batch=2), config=config, seed=0, device=CPU, desc="tiny"
    )
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10  # one line per tenth of the run, no bar
    assert lines[-1].startswith("tiny: step 20/20, loss ") and "ETA 0 s" in lines[-1]
    assert all("\r" not in line and "it/s" not in line for line in lines)


def test_train_network_silent_without_progress(capsys: pytest.CaptureFixture[str]) -> None:
    config = TrainConfig(steps=5, batch_size=2, patch_size=12)
    train_network(
        make_net(), draw_batch=make_draw_batch(batch=2), config=config, seed=0, device=CPU, progress=False
    )
    assert capsys.readouterr().err == ""


# apply_network ------------------------------------------------------------------------------------


def test_apply_network_shapes_and_dtype() -> None:
    net = make_net()
    image = np.random.default_rng(0).random((21, 17))
    out = apply_network(net, image, device=CPU)
    assert out.shape == (21, 17) and out.dtype == np.float32
    batch = apply_network(net, np.stack([image, image]), device=CPU)
    assert batch.shape == (2, 21, 17)
    with pytest.raises(ValueError, match="shape"):
        apply_network(net, image[None, None], device=CPU)


def test_apply_network_tiles_large_images_seamlessly() -> None:
    net = init_seeded(lambda: DnCNN(depth=4, features=8), seed=1)
    assert receptive_radius(net) == 4
    image = np.random.default_rng(2).random((2, 70, 93)).astype(np.float32)
    whole = apply_network(net, image, device=CPU)
    tiled = apply_network(net, image, device=CPU, max_pixels=20 * 20)  # cores of 12x12 inside 4-pixel margins
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    too_thin = apply_network(net, image, device=CPU, max_pixels=6 * 6)  # no room for a core: one pass
    np.testing.assert_array_equal(too_thin, whole)


def test_receptive_radius_is_none_for_nets_with_pooling() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.MaxPool2d(2))
    assert receptive_radius(net) is None
    assert receptive_radius(torch.nn.Conv2d(1, 1, 5, padding=4, dilation=2)) == 4


def test_apply_network_uses_eval_mode_and_restores_it() -> None:
    net = make_net()
    train_network(
        net,
        draw_batch=make_draw_batch(),
        config=TrainConfig(steps=5, batch_size=8, patch_size=12),
        seed=0,
        device=CPU,
        progress=False,
    )  # gives BN non-trivial running statistics
    net.train()
    rng = np.random.default_rng(1)
    image = rng.random((16, 16), dtype=np.float32)
    others = rng.random((3, 16, 16), dtype=np.float32) * 4
    alone = apply_network(net, image, device=CPU)
    together = apply_network(net, np.concatenate([image[None], others]), device=CPU)
    np.testing.assert_allclose(together[0], alone, rtol=0, atol=1e-6)
    assert net.training


def test_fold_batch_norm_computes_the_eval_function_without_batch_norm() -> None:
    torch.manual_seed(0)
    net = DnCNN(depth=5, features=8)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics and affine terms away from identity
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    net.train()
    folded = fold_batch_norm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert net.training and not folded.training
    x = torch.rand(2, 1, 17, 13)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net.eval()(x), atol=1e-5, rtol=1e-5)


def test_fold_batch_norm_is_cached_until_the_weights_change() -> None:
    net = DnCNN(depth=4, features=4)
    first = fold_batch_norm(net)
    assert fold_batch_norm(net) is first
    with torch.no_grad():
        net.body[0].weight.mul_(2)
    second = fold_batch_norm(net)
    assert second is not first
    torch.testing.assert_close(second.body[0].weight, net.body[0].weight)
    net.load_state_dict(DnCNN(depth=4, features=4).state_dict())
    assert fold_batch_norm(net) is not second


def test_adam_is_fused_only_where_the_networks_train_on_cuda():
    """CUDA gets torch's fused kernel; CPU keeps the default implementation, so CPU numbers do not move."""
    weight = torch.nn.Parameter(torch.ones(3))
    assert not make_adam([weight], lr=1e-3, device=torch.device("cpu")).defaults["fused"]
    fused = make_adam([weight], lr=1e-3, betas=(0.5, 0.999), device=torch.device("cuda"))
    assert fused.defaults["fused"] and fused.defaults["betas"] == (0.5, 0.999)


def test_the_dncnn_methods_and_g2g_pass_their_warmup_to_the_schedule() -> None:
    from methods.gan2gan.method import GAN2GAN
    from methods.n2v import Noise2Void

    assert Noise2Void(depth=3, features=8, warmup=7, device="cpu").train_config().warmup == 7
    assert GAN2GAN(g2g_warmup=9, device="cpu").g2g_config().warmup == 9
    assert GAN2GAN(device="cpu").g2g_config().warmup == 0
