"""Tests for methods.nets."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from methods.n2c import NoiseToClean
from methods.nets import Critic, DnCNN, NoiseGenerator, init_dcgan_
from methods.registry import METHODS


def count_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(("depth", "expected"), [(17, 556_032), (20, 667_008), (15, 482_048)])
def test_param_counts_match_official_code(depth: int, expected: int) -> None:
    assert count_params(DnCNN(depth=depth)) == expected


def test_layer_layout() -> None:
    net = DnCNN(depth=5, features=8)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 5
    assert len(norms) == 3
    assert all(c.bias is None and c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)


@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_for_odd_sizes(channels: int) -> None:
    net = DnCNN(depth=4, features=8, channels=channels).eval()
    x = torch.rand(2, channels, 37, 31)
    with torch.no_grad():
        assert net(x).shape == x.shape


def test_sigmoid_output_in_unit_interval() -> None:
    torch.manual_seed(0)
    net = DnCNN(depth=4, features=8, output="sigmoid").eval()
    with torch.no_grad():
        y = net(torch.rand(2, 1, 16, 16))
    assert torch.all(y > 0) and torch.all(y < 1)


def test_residual_identity_when_last_conv_is_zero() -> None:
    net = DnCNN(depth=4, features=8).eval()
    with torch.no_grad():
        net.body[-1].weight.zero_()
        x = torch.rand(1, 1, 20, 23)
        assert torch.equal(net(x), x)


def test_identity_start_is_the_default_start_with_a_zero_last_conv() -> None:
    torch.manual_seed(0)
    default = DnCNN(depth=4, features=8)
    torch.manual_seed(0)
    identity = DnCNN(depth=4, features=8, start="identity").eval()
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        assert torch.equal(identity(x), x)
    last = f"body.{len(identity.body) - 1}.weight"
    for key, value in identity.state_dict().items():
        assert not value.any() if key == last else torch.equal(value, default.state_dict()[key])


def test_sigmoid_of_identity_when_last_conv_is_zero() -> None:
    net = DnCNN(depth=3, features=8, output="sigmoid").eval()
    with torch.no_grad():
        net.body[-1].weight.zero_()
        x = torch.rand(1, 1, 9, 9)
        assert torch.allclose(net(x), torch.sigmoid(x))


@pytest.mark.parametrize("kwargs", [{"depth": 1}, {"output": "tanh"}, {"start": "zeros"}])
def test_invalid_options_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DnCNN(**kwargs)


def test_dncnn_is_channels_last_with_the_weights_of_a_contiguous_one() -> None:
    torch.manual_seed(0)
    net = DnCNN(depth=4, features=8)
    middle = net.body[2].weight
    assert middle.is_contiguous(memory_format=torch.channels_last) and not middle.is_contiguous()
    torch.manual_seed(0)
    plain = [nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False), nn.Conv2d(8, 8, kernel_size=3)]
    assert torch.equal(net.body[0].weight, plain[0].weight)
    assert torch.equal(middle, plain[1].weight)  # drawn as a contiguous layer would draw them
    x = torch.rand(2, 1, 9, 11)
    with torch.no_grad():
        contiguous = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
        torch.testing.assert_close(net(x), contiguous(x))


def test_dcgan_init_draws_the_same_weights_in_either_memory_format() -> None:
    nets = [DnCNN(depth=3, features=4), DnCNN(depth=3, features=4).to(memory_format=torch.contiguous_format)]
    for net in nets:
        torch.manual_seed(3)
        init_dcgan_(net)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(a, b)


# g_theta1 and the critics ----------------------------------------------------------------------------


def _generated(generator: torch.nn.Module, count: int = 256) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([generator(torch.randn(64, generator.nz)) for _ in range(count // 64)])[:, 0]


def test_transposed_generator_starts_with_a_fixed_pattern_and_a_weak_border() -> None:
    """The authors' g_theta1 at initialisation: much of its output is the same in every sample."""
    torch.manual_seed(0)
    samples = _generated(init_dcgan_(NoiseGenerator()).train())
    pattern = samples.mean(0)
    random = samples - pattern
    assert pattern.std() > 0.5 * random.std()
    border = torch.ones(64, 64, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert random[:, border].std() < 0.5 * random[:, ~border].std()


def test_standardised_generator_is_zero_mean_per_pixel_with_its_gain() -> None:
    torch.manual_seed(0)
    generator = init_dcgan_(NoiseGenerator(output="standardised")).train()
    generator.set_gain(0.1)
    samples = _generated(generator, count=64)  # one batch: BatchNorm's own statistics
    assert samples.mean(0).abs().max() < 1e-5
    assert samples.std(0, unbiased=False).mean() == pytest.approx(0.1, rel=0.01)  # BatchNorm eps
    with pytest.raises(ValueError, match="gain"):
        NoiseGenerator().set_gain(0.1)


@pytest.mark.parametrize("upsample", ["transposed", "resize"])
@pytest.mark.parametrize("output", ["tanh", "standardised"])
def test_generator_variants_make_64x64_noise(upsample: str, output: str) -> None:
    generator = NoiseGenerator(upsample=upsample, output=output)
    assert generator(torch.randn(3, 128)).shape == (3, 1, 64, 64)


def test_authors_generator_and_critic_keep_their_parameter_counts() -> None:
    assert count_params(NoiseGenerator()) == 174_448
    assert count_params(Critic()) == 2_634_369
    assert not any(isinstance(m, nn.BatchNorm2d) for m in Critic(norm="none").modules())


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: NoiseGenerator(upsample="bilinear"), "upsample"),
        (lambda: NoiseGenerator(output="sigmoid"), "output"),
        (lambda: Critic(norm="layer"), "norm"),
    ],
)
def test_unknown_variants_are_refused(factory, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.mark.parametrize("key", sorted(k for k, cls in METHODS.items() if issubclass(cls, NoiseToClean)))
def test_every_dncnn_method_can_start_as_the_identity(key: str) -> None:
    """``start`` reaches the network of every method built on :class:`methods.n2c.NoiseToClean`."""
    method = METHODS[key](depth=3, features=8, start="identity", device="cpu")
    x = torch.rand(1, 1, 10, 10)
    with torch.no_grad():
        assert torch.equal(method.build_network().eval()(x), x)
