import pytest
import torch

from phendiff.diffusion.schedule import make_alpha_bar, timestep_grid


@pytest.mark.parametrize(
    "ours, theirs",
    [("linear", "linear"), ("scaled_linear", "scaled_linear"), ("cosine", "squaredcos_cap_v2")],
)
@pytest.mark.parametrize("zero_snr", [False, True])
def test_schedules_match_diffusers(ours, theirs, zero_snr):
    from diffusers import DDPMScheduler

    ref = DDPMScheduler(beta_schedule=theirs, rescale_betas_zero_snr=zero_snr)
    alpha_bar = make_alpha_bar(ours, zero_terminal_snr=zero_snr)
    assert alpha_bar.dtype == torch.float64
    # diffusers keeps float32; ours is float64
    torch.testing.assert_close(alpha_bar.float(), ref.alphas_cumprod, rtol=1e-5, atol=1e-6)
    assert torch.all(alpha_bar[1:] < alpha_bar[:-1])
    if zero_snr:
        assert alpha_bar[-1] == 0


def test_grid():
    assert timestep_grid(4, 1000) == [-1, 249, 499, 749, 999]
    assert timestep_grid(1000, 1000) == [-1, *range(1000)]
    assert timestep_grid(2, 1000, depth=0.5) == [-1, 249, 499]
    # quadratic: t_i = T (i/n)² − 1 (Python rounds halves to even: 62.5 → 62, 562.5 → 562)
    assert timestep_grid(4, 1000, spacing="quadratic") == [-1, 61, 249, 561, 999]
    assert timestep_grid(2, 1000, depth=0.5, spacing="quadratic") == [-1, 124, 499]
    fine = timestep_grid(100, 1000, spacing="quadratic")  # (1/100)² · 1000 < 1: pushed apart
    assert fine[:5] == [-1, 0, 1, 2, 3] and fine[-1] == 999 and len(set(fine)) == 101
    gaps = [b - a for a, b in zip(fine[1:], fine[2:], strict=False)]
    assert gaps[:3] == [1, 1, 1] and gaps[-1] > 15  # finest near the data, coarse near noise
    with pytest.raises(ValueError, match="spacing"):
        timestep_grid(4, spacing="cubic")


def test_options_know_every_spacing():
    from phendiff.config import SPACINGS as OPTIONS
    from phendiff.diffusion.schedule import SPACINGS

    assert OPTIONS == SPACINGS
    with pytest.raises(ValueError):
        timestep_grid(0)
    with pytest.raises(ValueError):
        timestep_grid(1001, 1000)
