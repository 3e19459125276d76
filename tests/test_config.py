import pytest

from phendiff.config import (
    PRESETS,
    DemoOptions,
    EvaluateOptions,
    ModelConfig,
    SynthOptions,
    TrainConfig,
    TranslateOptions,
    from_dict,
    load_config,
    to_dict,
)
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


WRONG = [  # (class, field, value, text of the error)
    (TrainConfig, "steps", 2.5, "steps=2.5 (float); expected an integer"),
    (TrainConfig, "steps", "3", "expected an integer"),
    (TrainConfig, "steps", True, "expected an integer"),
    (TrainConfig, "learning_rate", float("nan"), "expected a finite number"),
    (TrainConfig, "learning_rate", 0, "expected > 0"),
    (TrainConfig, "learning_rate", "fast", "expected a number"),
    (TrainConfig, "adam_betas", (0.9,), "a list of 2 numbers"),
    (TrainConfig, "adam_betas", (0.9, 1.0), "0 <= x < 1 for each value"),
    (TrainConfig, "augment", "yes", "true or false"),
    (TrainConfig, "compounds", "DMSO", "a list of names"),
    (TrainConfig, "seed", -1, ">= 0"),
    (ModelConfig, "dropout", 1.0, "0 <= x < 1"),
    (ModelConfig, "block_out_channels", (32, 2.5), "expected an integer"),
    (ModelConfig, "beta_end", float("inf"), "finite"),
    (TranslateOptions, "guidance", float("nan"), "finite"),
    (TranslateOptions, "guidance", float("-inf"), "finite"),
    (TranslateOptions, "depth", 0, "0 < x <= 1"),
    (TranslateOptions, "guidance_above", 1.0, "0 <= x < 1"),
    (TranslateOptions, "guidance_above", -0.1, "0 <= x < 1"),
    (TranslateOptions, "batch_size", 0.5, "an integer"),
    (TranslateOptions, "clip", 0.0, "> 0"),
    (EvaluateOptions, "alpha", 5, "0 < x < 1"),
    (EvaluateOptions, "alpha", 0, "0 < x < 1"),
    (EvaluateOptions, "kid_subsets", 0, ">= 1"),
    (SynthOptions, "size", 16, ">= 32"),
    (DemoOptions, "steps", 0, ">= 1"),
    (DemoOptions, "images", 1.0, "an integer"),
]


@pytest.mark.parametrize(("cls", "name", "value", "text"), WRONG)
def test_wrong_types_and_ranges_are_one_line_errors(cls, name, value, text):
    with pytest.raises(PhendiffError) as info:
        cls(**{name: value})
    message = str(info.value)
    assert message.startswith(f"{name}=") and text in message and "\n" not in message


def test_numbers_are_normalised_and_accepted_at_the_edges():
    config = TrainConfig(learning_rate=1, adam_betas=[0, 0.5], percentiles=(0, 100))
    assert isinstance(config.learning_rate, float) and config.adam_betas == (0.0, 0.5)
    assert TranslateOptions(depth=1, guidance=-0.5, clip=None).depth == 1.0
    assert ModelConfig(zero_terminal_snr=None).zero_terminal_snr is True


def test_a_yaml_float_for_an_integer_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("steps: 2.5\n")
    with pytest.raises(PhendiffError, match=r"run\.yaml: steps=2\.5 \(float\); expected an int"):
        load_config(path)
    path.write_text("model:\n  layers_per_block: two\n")
    with pytest.raises(PhendiffError, match=r"run\.yaml\.model: layers_per_block='two'"):
        load_config(path)


# numeric options any finite value of which is meaningful (edm_p_mean: the mean of ln σ)
FREE = {("TranslateOptions", "guidance"), ("TrainConfig", "channel_axis"),
        ("TrainConfig", "edm_p_mean")}  # fmt: skip


def test_every_numeric_option_has_a_range():
    import dataclasses
    import typing

    from phendiff.config_checks import RANGES

    for cls in (ModelConfig, TrainConfig, TranslateOptions, EvaluateOptions, SynthOptions,
                DemoOptions):  # fmt: skip
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            numeric = any(t in str(hints[f.name]) for t in ("int", "float"))
            if numeric and (cls.__name__, f.name) not in FREE:
                assert f.name in RANGES[cls.__name__], (cls.__name__, f.name)
