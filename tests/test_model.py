import hashlib
import json

import pytest
import torch

from conftest import micro_model
from phendiff.conditions import Condition, ConditionTable
from phendiff.config import ModelConfig
from phendiff.data.normalize import Normalizer
from phendiff.errors import PhendiffError
from phendiff.model.checkpoint import load_model, save_model
from phendiff.model.unet import ConditionalUNet, count_parameters

TABLE = ConditionTable.from_conditions(
    [Condition("DMSO"), Condition("noc", 0.1), Condition("noc", 1.0)]
)
NORM = Normalizer(low=(100.0, 90.0, 80.0), high=(4000.0, 3000.0, 2000.0))


def test_contract_shapes_and_null_label():
    config = micro_model(channel_names=("a", "b", "c", "d", "e"))
    net = ConditionalUNet(config, num_conditions=3)
    x = torch.randn(2, 5, 16, 16)
    out = net(x, torch.tensor([10, 500]), torch.tensor([0, 3]))  # 3 = the null label
    assert out.shape == x.shape
    # the null label is its own embedding: it changes the output
    assert not torch.allclose(net(x, torch.tensor([10, 500]), torch.tensor([0, 0])), out)
    assert torch.equal(
        net(x, torch.tensor([10, 500]), None), net(x, torch.tensor([10, 500]), torch.tensor([3, 3]))
    )


@pytest.mark.slow
def test_paper_preset_is_paper_sized():
    n = count_parameters(ConditionalUNet(ModelConfig.from_preset("paper"), 25))
    assert 60e6 < n < 90e6  # the paper's model has ~70M parameters


def test_checkpoint_round_trip(tmp_path):
    config = micro_model()
    net = ConditionalUNet(config, len(TABLE))
    folder = save_model(tmp_path / "m", net.state_dict(), config, TABLE, NORM, {"steps": 12})
    assert sorted(p.name for p in folder.iterdir()) == [
        "conditions.json",
        "config.json",
        "model.safetensors",
    ]
    model = load_model(folder)
    assert model.config == config and model.conditions == TABLE and model.normalizer == NORM
    assert model.training["steps"] == 12
    x, t, y = torch.randn(3, 3, 16, 16), torch.tensor([1, 2, 3]), torch.tensor([0, 1, 2])
    assert torch.equal(model.network(x, t, y), net.eval()(x, t, y))
    # a run folder resolves to its model/
    assert load_model(tmp_path / "m").path == folder


@pytest.mark.parametrize("scale_shift", [False, True])
def test_scale_shift_norm_projects_one_scale_and_one_shift_per_channel(tmp_path, scale_shift):
    config = micro_model(scale_shift_norm=scale_shift)
    net = ConditionalUNet(config, len(TABLE))
    blocks = [m for m in net.modules() if type(m).__name__ == "ResnetBlock2D"]
    assert blocks
    for block in blocks:  # the embedding is added (C values) or scales and shifts (2 C)
        width = block.conv2.out_channels
        assert block.time_emb_proj.out_features == (2 if scale_shift else 1) * width
    folder = save_model(tmp_path / "m", net.state_dict(), config, TABLE, NORM, {"steps": 1})
    model = load_model(folder)
    assert model.config.scale_shift_norm is scale_shift
    x, t, y = torch.randn(2, 3, 16, 16), torch.tensor([5, 900]), torch.tensor([0, 2])
    assert torch.equal(model.network(x, t, y), net.eval()(x, t, y))


def test_models_saved_before_scale_shift_norm_load_without_it(tmp_path):
    config = micro_model()
    net = ConditionalUNet(config, len(TABLE))
    folder = save_model(tmp_path / "m", net.state_dict(), config, TABLE, NORM, {"steps": 1})
    meta = json.loads((folder / "config.json").read_text())
    del meta["model"]["scale_shift_norm"]  # as written by phendiff before the option
    (folder / "config.json").write_text(json.dumps(meta))
    assert load_model(folder).config.scale_shift_norm is False


def test_save_replaces_atomically(tmp_path):
    config = micro_model()
    net = ConditionalUNet(config, len(TABLE))
    save_model(tmp_path / "m", net.state_dict(), config, TABLE, NORM, {"steps": 1})
    save_model(tmp_path / "m", net.state_dict(), config, TABLE, NORM, {"steps": 2})
    assert load_model(tmp_path / "m").training["steps"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folders left


def test_corrupt_and_foreign_folders(tmp_path):
    config = micro_model()
    net = ConditionalUNet(config, len(TABLE))
    folder = save_model(tmp_path / "m", net.state_dict(), config, TABLE, NORM)
    with pytest.raises(PhendiffError, match="no such model folder"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PhendiffError, match="not a phendiff model folder.*missing model"):
        load_model(tmp_path / "empty")
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(PhendiffError, match="damaged or changed"):
        load_model(folder)
    meta = json.loads((folder / "config.json").read_text())
    del meta["weights_sha256"]  # a folder from before hashes were recorded
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(PhendiffError, match="cannot read weights"):
        load_model(folder)
    save_model(folder, net.state_dict(), config, TABLE, NORM)
    meta = json.loads((folder / "config.json").read_text())
    meta["format"] = "something-else"
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(PhendiffError, match="not a phendiff model configuration"):
        load_model(folder)
    # weights of another architecture
    other = ConditionalUNet(micro_model(block_out_channels=(8, 16)), len(TABLE))
    save_model(folder, other.state_dict(), config, TABLE, NORM)
    with pytest.raises(PhendiffError, match="weights do not match"):
        load_model(folder)


def test_flipped_bits_in_the_weights_are_detected(tmp_path):
    config = micro_model()
    net = ConditionalUNet(config, len(TABLE))
    folder = save_model(tmp_path / "m", net.state_dict(), config, TABLE, NORM)
    path = folder / "model.safetensors"
    original = path.read_bytes()
    meta = json.loads((folder / "config.json").read_text())
    assert meta["weights_sha256"] == hashlib.sha256(original).hexdigest()
    for position in (len(original) // 2, len(original) - 1):  # inside the tensors' bytes
        data = bytearray(original)
        data[position] ^= 0x01  # one bit: loads as valid float32 weights, silently wrong
        path.write_bytes(bytes(data))
        with pytest.raises(PhendiffError, match="SHA-256 .* differs from") as info:
            load_model(folder)
        assert "\n" not in str(info.value)
    path.write_bytes(original)
    load_model(folder)


def test_non_finite_weights_are_refused(tmp_path):
    config = micro_model()
    state = ConditionalUNet(config, len(TABLE)).state_dict()
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name][0] = float("nan")
    folder = save_model(tmp_path / "m", state, config, TABLE, NORM)  # hash of the NaN weights
    with pytest.raises(PhendiffError, match=f"non-finite weights .* in {name}"):
        load_model(folder)


def test_the_shipped_demo_model_records_its_hash(tmp_path):
    import shutil

    from phendiff.demo import demo_model_path

    meta = json.loads((demo_model_path() / "config.json").read_text())
    data = (demo_model_path() / "model.safetensors").read_bytes()
    assert meta["weights_sha256"] == hashlib.sha256(data).hexdigest()
    assert load_model(demo_model_path()).conditions.names[0] == "DMSO"  # hash checked, passes
    copy = shutil.copytree(demo_model_path(), tmp_path / "demo")
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01
    (copy / "model.safetensors").write_bytes(bytes(damaged))
    with pytest.raises(PhendiffError, match=r"demo/model.safetensors: damaged .* SHA-256"):
        load_model(copy)
