import pytest
import torch
from scorebench_ncsn.losses import dsm, ssm
from torch import nn

from scorebench.errors import ConfigError
from scorebench.score import LossOutput

SIGMAS = torch.tensor([1.0, 0.5, 0.1])


class LevelNet(nn.Module):
    """A tiny level-conditioned score network: s(x, i) = tanh(W x + b) * scale_i."""

    conditioning = "level"

    def __init__(self, dim: int = 3, levels: int = 3) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, dim)
        self.scale = nn.Parameter(torch.linspace(1.0, 2.0, levels))
        self.seen = None

    def forward(self, x, y):
        self.seen = y
        return torch.tanh(self.lin(x)) * self.scale[y][:, None]


class SigmaNet(nn.Module):
    """A tiny sigma-conditioned network (no ``conditioning`` attribute: the default)."""

    def __init__(self, dim: int = 3) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, dim)
        self.seen = None

    def forward(self, x, sigma):
        self.seen = sigma
        return self.lin(x) / sigma[:, None]


class LinearNet(nn.Module):
    """s(x) = W x, whose Jacobian is W: SSM has a closed form."""

    conditioning = "level"

    def __init__(self, dim: int = 3) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, dim, bias=False)

    def forward(self, x, y):
        return self.lin(x)


class ShrinkNet(nn.Module):
    """s(x, i) = -a_i x. On N(0, I) data the perturbed score at level i has a_i = 1/(1+sigma_i^2)."""

    conditioning = "level"

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.full((levels,), 0.3))

    def forward(self, x, y):
        return -self.a[y][:, None] * x


def twin_generators(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    twin = torch.Generator()
    twin.set_state(gen.get_state())
    return gen, twin


def test_dsm_matches_hand_computation():
    torch.manual_seed(0)
    model, x = LevelNet(), torch.randn(8, 3)
    gen, twin = twin_generators(1)
    out = dsm()(model, x, SIGMAS, gen)
    assert isinstance(out, LossOutput)

    levels = torch.randint(0, 3, (8,), generator=twin)
    noise = torch.randn(x.shape, generator=twin)
    sig = SIGMAS[levels][:, None]
    noisy = x + sig * noise
    target = -(noisy - x) / sig**2
    per_sample = 0.5 * ((model(noisy, levels) - target) ** 2).sum(dim=1) * sig[:, 0] ** 2
    torch.testing.assert_close(out.levels, levels)
    torch.testing.assert_close(out.per_sample, per_sample, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.loss, per_sample.mean(), rtol=1e-4, atol=1e-5)
    assert not out.per_sample.requires_grad and out.loss.requires_grad


def test_dsm_anneal_power_weights_by_sigma():
    torch.manual_seed(0)
    model, x = LevelNet(), torch.randn(16, 3)
    plain = dsm(anneal_power=0.0)(model, x, SIGMAS, torch.Generator().manual_seed(3))
    weighted = dsm(anneal_power=2.0)(model, x, SIGMAS, torch.Generator().manual_seed(3))
    torch.testing.assert_close(weighted.per_sample, plain.per_sample * SIGMAS[plain.levels] ** 2)


def test_network_gets_levels_or_sigmas_by_its_conditioning():
    x = torch.randn(6, 3)
    level_net, sigma_net = LevelNet(), SigmaNet()
    out = dsm()(level_net, x, SIGMAS, torch.Generator().manual_seed(0))
    assert level_net.seen.dtype == torch.long
    torch.testing.assert_close(level_net.seen, out.levels)
    out = dsm()(sigma_net, x, SIGMAS, torch.Generator().manual_seed(0))
    torch.testing.assert_close(sigma_net.seen, SIGMAS[out.levels])


def test_levels_cover_all_levels_uniformly():
    out = dsm()(LevelNet(), torch.zeros(3000, 3), SIGMAS, torch.Generator().manual_seed(0))
    counts = torch.bincount(out.levels, minlength=3).double() / 3000
    torch.testing.assert_close(
        counts, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.03, rtol=0
    )


@pytest.mark.parametrize("factory", [dsm, ssm])
def test_gradients_reach_every_parameter(factory):
    torch.manual_seed(0)
    model = LevelNet()
    out = factory()(model, torch.randn(32, 3), SIGMAS, torch.Generator().manual_seed(0))
    out.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("factory", [dsm, ssm])
def test_same_generator_state_same_loss(factory):
    torch.manual_seed(0)
    model, x = LevelNet(), torch.randn(8, 3)
    a = factory()(model, x, SIGMAS, torch.Generator().manual_seed(5))
    b = factory()(model, x, SIGMAS, torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.loss, b.loss)


@pytest.mark.parametrize("n_particles", [1, 3])
def test_ssm_matches_closed_form_for_a_linear_score(n_particles):
    torch.manual_seed(0)
    model, x = LinearNet(), torch.randn(8, 3)
    gen, twin = twin_generators(2)
    out = ssm(n_particles=n_particles)(model, x, SIGMAS, gen)

    levels = torch.randint(0, 3, (8,), generator=twin)
    noise = torch.randn(x.shape, generator=twin)
    sig = SIGMAS[levels]
    noisy = x + sig[:, None] * noise
    vectors = torch.randn(n_particles, 8, 3, generator=twin)
    w = model.lin.weight.detach()
    half_norm = 0.5 * ((noisy @ w.T) ** 2).sum(dim=1)  # 1/2 ||W x~||^2
    trace = torch.einsum("pbi,ij,pbj->pb", vectors, w, vectors)  # v^T W v
    expected = (half_norm[None] + trace).mean(dim=0) * sig**2
    torch.testing.assert_close(out.levels, levels)
    torch.testing.assert_close(out.per_sample, expected, rtol=1e-4, atol=1e-5)


def test_ssm_without_grad_gives_the_same_value_and_no_graph():
    torch.manual_seed(0)
    model, x = LevelNet(), torch.randn(8, 3)
    with_grad = ssm()(model, x, SIGMAS, torch.Generator().manual_seed(4))
    with torch.no_grad():
        without = ssm()(model, x, SIGMAS, torch.Generator().manual_seed(4))
    assert not without.loss.requires_grad
    torch.testing.assert_close(without.loss, with_grad.loss.detach())


@pytest.mark.parametrize("factory", [dsm, ssm])
def test_dsm_and_ssm_learn_the_perturbed_score(factory):
    # Data N(0, I): the score of the data perturbed with sigma is -x / (1 + sigma^2). Both
    # objectives must drive s(x, i) = -a_i x to a_i = 1 / (1 + sigma_i^2); for SSM the a_i
    # reach the trace term only through create_graph=True.
    torch.manual_seed(0)
    model = ShrinkNet(levels=3)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    steps = 400
    # Decay to zero: at sigma = 0.1 the DSM gradient is noisy, a constant rate would jitter.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 - t / steps)
    gen = torch.Generator().manual_seed(0)
    loss = factory()
    for _ in range(steps):
        x = torch.randn(256, 4, generator=gen)
        opt.zero_grad()
        loss(model, x, SIGMAS, gen).loss.backward()
        opt.step()
        sched.step()
    torch.testing.assert_close(model.a.detach(), 1 / (1 + SIGMAS**2), atol=0.05, rtol=0)


def test_losses_are_computed_in_the_batch_precision():
    class HalfNet(LevelNet):
        def forward(self, x, y):
            return super().forward(x, y).to(torch.bfloat16)

    for factory in (dsm, ssm):
        out = factory()(HalfNet(), torch.randn(4, 3), SIGMAS, torch.Generator().manual_seed(0))
        assert out.loss.dtype == torch.float32


def test_image_shaped_batches():
    class ConvNet(nn.Module):
        conditioning = "level"

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x, y):
            return self.conv(x)

    x = torch.rand(4, 1, 5, 5)
    for factory in (dsm, ssm):
        out = factory()(ConvNet(), x, SIGMAS, torch.Generator().manual_seed(0))
        assert out.per_sample.shape == (4,) and torch.isfinite(out.loss)


def test_wrong_output_shape_is_a_clear_error():
    class Bad(nn.Module):
        def forward(self, x, y):
            return x[:, :1]

    for factory in (dsm, ssm):
        with pytest.raises(ConfigError, match="input's shape"):
            factory()(Bad(), torch.randn(4, 3), SIGMAS, torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: dsm(anneal_power=float("nan")), "anneal_power"),
        (lambda: dsm(anneal_power="2"), "anneal_power"),
        (lambda: ssm(n_particles=0), "n_particles"),
        (lambda: ssm(n_particles=1.5), "n_particles"),
    ],
)
def test_bad_parameters_raise_config_error(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_bad_inputs_raise_config_error():
    loss = dsm()
    with pytest.raises(ConfigError, match="sigmas"):
        loss(LevelNet(), torch.randn(4, 3), torch.tensor([]), None)
    with pytest.raises(ConfigError, match="> 0"):
        loss(LevelNet(), torch.randn(4, 3), torch.tensor([1.0, 0.0]), None)
    with pytest.raises(ConfigError, match="batch"):
        loss(LevelNet(), torch.randn(3), SIGMAS, None)
