"""The denoiser, the forward process and the step lists, against answers known by construction."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import micro_model
from phendiff.diffusion import ddim, exact
from phendiff.diffusion.denoiser import Denoiser, network_callable
from phendiff.diffusion.forward import add_noise, training_target
from phendiff.diffusion.schedule import make_alpha_bar, reverse, steps_down, steps_up, timestep_grid


@pytest.mark.parametrize(
    ("prediction", "zero_snr"),
    [("epsilon", False), ("v_prediction", False), ("v_prediction", True)],  # ε: no x0 at ᾱ = 0
)
def test_denoiser_inverts_the_forward_process(prediction, zero_snr):
    # a network that returns the exact training target of (x0, ε) lets the denoiser recover
    # both from x_t alone; v-prediction recovers x0 even where ᾱ = 0
    ab = make_alpha_bar("linear", zero_terminal_snr=zero_snr)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    noise = torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64)
    for t in (0, 10, 500, 999):
        a = ab[t]
        x_t = add_noise(x0, noise, a)

        def oracle(x, ts, labels, a=a, t=t):
            assert torch.equal(ts, torch.full((3,), t))
            return training_target(x0, noise, a, prediction)

        eps, x0_pred = Denoiser(oracle, ab, prediction)(x_t, t, None)
        if not (prediction == "epsilon" and t == 999):
            torch.testing.assert_close(x0_pred, x0, rtol=0, atol=1e-9)
        torch.testing.assert_close(eps, noise, rtol=0, atol=1e-9)


def test_denoiser_and_samplers_are_float64_whatever_the_caller_passes():
    ab = make_alpha_bar("linear")
    net = lambda x, t, y: (0.5 * x).float()  # noqa: E731  a float32 network
    d = Denoiser(net, ab)
    x32 = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    eps, x0_pred = d(x32, 500, None)
    assert eps.dtype == x0_pred.dtype == torch.float64
    up, down = steps_up(timestep_grid(8)), steps_down(timestep_grid(8))
    out32 = exact.generate(d, exact.invert(d, x32, None, up), None, down)
    out64 = exact.generate(d, exact.invert(d, x32.double(), None, up), None, down)
    assert out32.dtype == torch.float64 and torch.equal(out32, out64)
    torch.testing.assert_close(out32, x32.double(), rtol=0, atol=1e-12)  # exact round trip
    assert ddim.generate(d, x32, None, down).dtype == torch.float64


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.floats(0.05, 1.0))
def test_steps_walk_the_grid_up_and_down_as_mirror_images(n, depth):
    levels = timestep_grid(n, 1000, depth)
    up, down = steps_up(levels), steps_down(levels)
    assert [a for a, _ in up] + [up[-1][1]] == levels  # contiguous, from the clean end
    assert all(b > a for a, b in up) and all(b < a for a, b in down)
    assert down == reverse(up) and reverse(down) == up
    assert down[0][0] == levels[-1] and down[-1][1] == -1


def test_network_callable_never_modifies_the_module():
    from phendiff.model.unet import ConditionalUNet

    torch.manual_seed(0)
    net = ConditionalUNet(micro_model(), num_conditions=3).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    t, labels = torch.tensor([999, 10]), torch.tensor([0, 2])
    with torch.no_grad():
        want = net(x.float(), t, labels).double()
    for precision, fmt, atol in [
        ("fp64", torch.contiguous_format, 1e-5),
        ("fp32", torch.channels_last, 1e-5),
        ("bf16", torch.channels_last, 0.1),
    ]:
        out = network_callable(net, precision, fmt)(x, t, labels)
        assert out.dtype == torch.float64
        torch.testing.assert_close(out, want, rtol=0, atol=atol * float(want.abs().max()))
    for name, value in net.state_dict().items():
        assert value.dtype == torch.float32 and value.is_contiguous(), name
        assert torch.equal(value, before[name]), name


def test_config_names_the_same_choices_as_the_diffusion_math():
    # config.py may not import diffusion (it must stay light for --help), so each lists them
    from phendiff import config
    from phendiff.diffusion import denoiser, schedule

    assert config.PREDICTIONS == denoiser.PREDICTIONS
    assert config.PRECISIONS == denoiser.PRECISIONS
    assert config.SCHEDULES == schedule.SCHEDULES
