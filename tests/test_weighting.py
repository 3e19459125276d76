import math

import pytest
import torch
import yaml

from conftest import micro_config
from phendiff.config import ModelConfig, TrainConfig
from phendiff.diffusion.schedule import make_alpha_bar
from phendiff.diffusion.weighting import (
    EDM_P_MEAN,
    EDM_P_STD,
    loss_weights,
    timestep_probabilities,
)
from phendiff.errors import PhendiffError
from phendiff.train import train
from phendiff.train.step import TrainStep

# ᾱ = 0, 0.5, 0.9: SNR = 0, 1, 9
AB = torch.tensor([0.0, 0.5, 0.9], dtype=torch.float64)


def test_uniform_is_the_plain_loss():
    assert torch.equal(loss_weights(AB, "v_prediction", "uniform"), torch.ones(3, dtype=AB.dtype))
    p = timestep_probabilities(make_alpha_bar(num_train_timesteps=10), "uniform")
    assert torch.allclose(p, torch.full((10,), 0.1, dtype=torch.float64))


def test_min_snr_in_closed_form():
    # x0-weight min(SNR, 5); v's plain MSE already weighs x0 by SNR + 1, ε's by SNR
    v = loss_weights(AB, "v_prediction", "min_snr", gamma=5.0)
    assert v.tolist() == pytest.approx([1.0, 1 / 2, 5 / 10])  # SNR 0: the plain v-loss
    eps = loss_weights(AB[1:], "epsilon", "min_snr", gamma=5.0)
    assert eps.tolist() == pytest.approx([1.0, 5 / 9])
    assert loss_weights(AB[1:], "epsilon", "min_snr", gamma=100.0).tolist() == pytest.approx([1, 1])


def test_edm_weight_in_closed_form():
    # x0-weight (σ² + σ_d²)/(σ σ_d)² = SNR + 4 for σ_d = 0.5
    v = loss_weights(AB, "v_prediction", "edm")
    assert v.tolist() == pytest.approx([4.0, 5 / 2, 13 / 10])
    assert loss_weights(AB[1:], "epsilon", "edm").tolist() == pytest.approx([5.0, 13 / 9])


def test_edm_timesteps_follow_the_log_normal():
    ab = make_alpha_bar(num_train_timesteps=4000, zero_terminal_snr=True)
    p = timestep_probabilities(ab, "edm")
    assert p.sum().item() == pytest.approx(1.0) and (p >= 0).all()
    assert p[-1] == 0  # σ = ∞ is never drawn
    log_sigma = 0.5 * (torch.log1p(-ab[:-1]) - torch.log(ab[:-1]))
    mean = (p[:-1] * log_sigma).sum().item()
    std = math.sqrt((p[:-1] * (log_sigma - mean) ** 2).sum().item())
    # the grid starts at ln σ = -4.6, 2.8 std below the mean: a little mass piles up there
    assert mean == pytest.approx(-1.2, abs=0.03) and std == pytest.approx(1.2, abs=0.05)


@pytest.mark.parametrize("p_mean, p_std", [(-0.4, 1.0), (0.5, 0.5)])
def test_edm_log_normal_can_be_moved(p_mean, p_std):
    ab = make_alpha_bar(num_train_timesteps=4000, zero_terminal_snr=True)
    log_sigma = 0.5 * (torch.log1p(-ab[:-1]) - torch.log(ab[:-1]))
    p = timestep_probabilities(ab, "edm", p_mean, p_std)[:-1]
    mean = (p * log_sigma).sum().item()
    std = math.sqrt((p * (log_sigma - mean) ** 2).sum().item())
    assert mean == pytest.approx(p_mean, abs=0.02) and std == pytest.approx(p_std, abs=0.03)
    # the share drawn above σ = 1 is the normal's tail above ln σ = 0
    above = p[log_sigma > 0].sum().item()
    assert above == pytest.approx(0.5 * math.erfc(-p_mean / (p_std * math.sqrt(2))), abs=0.01)
    with pytest.raises(ValueError, match="p_std=0"):
        timestep_probabilities(ab, "edm", p_mean, 0.0)


def step_for(weighting: str, prediction: str = "v_prediction", **options) -> TrainStep:
    model = ModelConfig(prediction=prediction)
    config = TrainConfig(model=model, loss_weighting=weighting, precision="fp32", **options)
    net = torch.nn.Conv2d(3, 3, 1)
    opt = torch.optim.AdamW(net.parameters())
    return TrainStep(config, net, net, net, opt, null_label=13, device=torch.device("cpu"))


def test_step_weighs_each_sample():
    step = step_for("min_snr")
    out, target = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    target[1] *= 2  # squared errors 1 and 4
    ab = torch.tensor([0.5, 0.9]).view(-1, 1, 1, 1)
    assert step.loss(out, target, ab).item() == pytest.approx((0.5 * 1 + 0.5 * 4) / 2)
    assert step_for("uniform").loss(out, target, ab).item() == pytest.approx(2.5)


def test_step_draws_timesteps_from_the_weighting():
    gen = torch.Generator().manual_seed(0)
    edm_own = step_for("edm", edm_p_mean=EDM_P_MEAN, edm_p_std=EDM_P_STD)  # EDM's values
    edm = edm_own.draw_timesteps(20_000, gen).double()
    expected = (edm_own.t_probs * torch.arange(1000)).sum().item()
    assert edm.mean().item() == pytest.approx(expected, rel=0.03)
    assert expected < 200  # most draws near the data, where uniform's mean is 499.5
    moved = step_for("edm", edm_p_mean=-0.4, edm_p_std=1.0)
    assert torch.allclose(moved.t_probs, timestep_probabilities(
        make_alpha_bar(**moved.config.model.schedule_options), "edm", -0.4, 1.0))
    assert (moved.t_probs * torch.arange(1000)).sum().item() > expected + 50
    gen = torch.Generator().manual_seed(0)
    uniform = step_for("uniform").draw_timesteps(8, gen)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(uniform, torch.randint(0, 1000, (8,), generator=gen))  # as before


def test_edm_by_default_draws_half_of_its_steps_above_sigma_one():
    # uniform t is the default loss; asked for, EDM's log-normal is centred on σ = 1
    config = TrainConfig()
    assert (config.loss_weighting, config.edm_p_mean, config.edm_p_std) == ("uniform", 0.0, 1.2)
    step = step_for("edm")
    ab = make_alpha_bar(**step.config.model.schedule_options)
    above = step.t_probs[ab < 0.5].sum().item()  # σ² = (1 − ᾱ) / ᾱ > 1
    assert above == pytest.approx(0.5, abs=0.01)
    edm_own = step_for("edm", edm_p_mean=EDM_P_MEAN, edm_p_std=EDM_P_STD)
    share = edm_own.t_probs[ab < 0.5].sum().item()
    assert share == pytest.approx(0.5 * math.erfc(-EDM_P_MEAN / (EDM_P_STD * math.sqrt(2))),
                                  abs=0.01)  # fmt: skip
    assert share < 0.2


def test_weighting_is_checked_and_recorded(screen, tmp_path):
    with pytest.raises(PhendiffError, match="loss_weighting='snr'.*uniform, min_snr, edm"):
        TrainConfig(loss_weighting="snr")
    with pytest.raises(PhendiffError, match="min_snr_gamma"):
        TrainConfig(min_snr_gamma=0.0)
    with pytest.raises(PhendiffError, match="edm_p_std"):
        TrainConfig(edm_p_std=0.0)
    run = tmp_path / "run"
    train(screen, run, micro_config(steps=2, loss_weighting="edm", edm_p_mean=-0.4),
          progress=False)  # fmt: skip
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["loss_weighting"] == "edm" and saved["train"]["edm_p_mean"] == -0.4
