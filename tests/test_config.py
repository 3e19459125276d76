import pytest

from phendiff.config import PRESETS, ModelConfig, TrainConfig, from_dict, load_config, to_dict
from phendiff.errors import PhendiffError


def test_round_trip_through_yaml(tmp_path):
    from phendiff.config import dump_yaml

    config = TrainConfig(model=ModelConfig.from_preset("small"), steps=7, compounds=("DMSO", "x"))
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(config))
    assert load_config(path) == config


def test_unknown_key_lists_valid_ones(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 3\nlearning_rat: 0.1\n")
    with pytest.raises(PhendiffError, match="unknown option.*learning_rat.*valid options:.*steps"):
        load_config(path)
    with pytest.raises(PhendiffError, match="unknown option.*depth"):
        from_dict(TrainConfig, {"model": {"depth": 3}})


def test_invalid_values():
    with pytest.raises(PhendiffError, match="divisible"):
        ModelConfig(image_size=30, block_out_channels=(8, 16, 32))
    with pytest.raises(PhendiffError, match="v_prediction"):
        ModelConfig(prediction="epsilon", zero_terminal_snr=True)
    with pytest.raises(PhendiffError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(PhendiffError, match="preset"):
        ModelConfig.from_preset("huge")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_build(preset):
    assert to_dict(ModelConfig.from_preset(preset))["preset"] == preset
