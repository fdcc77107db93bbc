"""``so101 pretrain-encoder`` and ACT trained on its backbone: the file fits LeRobot's ACT, frozen stays frozen."""

from __future__ import annotations

import json

import pytest

from so101.training.encoder_pretraining import main as pretrain_main
from so101.training.train import main as train_main

SMALL = ["--scenes=48", "--steps=3", "--batch_size=8", "--image_height=48", "--image_width=64",
         "--torch_threads=1"]
TINY_ACT = [
    "--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64", "--policy.n_encoder_layers=1",
    "--policy.use_vae=false", "--policy.chunk_size=10", "--policy.n_action_steps=10", "--policy.image_height=48",
    "--policy.image_width=64", "--policy.device=cpu", "--batch_size=4", "--num_workers=0", "--wandb.mode=disabled",
    "--eval_freq=0", "--steps=3", "--save_freq=3",
]


@pytest.fixture(scope="module")
def encoder(tiny_dataset, tmp_path_factory):
    output = tmp_path_factory.mktemp("encoder") / "encoder.safetensors"
    assert pretrain_main([f"--dataset.root={tiny_dataset}", f"--output={output}", *SMALL]) == 0
    return output


def test_pretrained_backbone_has_act_backbone_names_and_a_report(encoder) -> None:
    import torchvision
    from safetensors import safe_open
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.ops.misc import FrozenBatchNorm2d

    with safe_open(str(encoder), framework="pt") as file:
        names = set(file.keys())
        assert file.metadata()["image_size"] == "48x64"
    # LeRobot 0.4.4's ACT backbone, built as modeling_act.py builds it.
    resnet = torchvision.models.resnet18(norm_layer=FrozenBatchNorm2d)
    expected = set(IntermediateLayerGetter(resnet, return_layers={"layer4": "feature_map"}).state_dict())
    assert names == expected
    report = json.loads(encoder.with_suffix(".json").read_text())
    error = report["held_out_error"]
    assert error["brick_mm"] > 0 and error["bowl_mm"] > 0 and error["brick_yaw_deg"] >= 0
    assert report["options"]["scenes"] == 48


def test_act_starts_from_the_encoder_and_a_frozen_one_stays(encoder, tiny_dataset, tmp_path) -> None:
    import torch
    from lerobot.policies.act.modeling_act import ACTPolicy
    from safetensors.torch import load_file

    weights = load_file(str(encoder))
    for freeze in (True, False):
        run = tmp_path / f"run_{freeze}"
        code = train_main([f"--dataset.root={tiny_dataset}", f"--output_dir={run}", f"--cache_dir={tmp_path / 'c'}",
                           *TINY_ACT, f"--policy.backbone_weights={encoder}", f"--policy.freeze_backbone={freeze}",
                           "--optimizer.lr=1e-2"])
        assert code == 0
        policy = ACTPolicy.from_pretrained(run / "checkpoints" / "last" / "pretrained_model")
        backbone = policy.model.backbone.state_dict()
        # Batch-norm statistics are never trained: they are the encoder's either way.
        torch.testing.assert_close(backbone["bn1.running_var"], weights["bn1.running_var"])
        same = torch.equal(backbone["layer4.1.conv2.weight"], weights["layer4.1.conv2.weight"])
        assert same == freeze


def test_bad_encoder_files_and_options_are_refused(encoder, tiny_dataset, tmp_path, capsys) -> None:
    base = [f"--dataset.root={tiny_dataset}", f"--cache_dir={tmp_path / 'c'}", *TINY_ACT]
    # Pretrained at 48x64, used at 96x128: the encoder learned positions at its own size.
    assert train_main([*base, f"--output_dir={tmp_path / 'a'}", f"--policy.backbone_weights={encoder}",
                       "--policy.image_height=96", "--policy.image_width=128"]) == 2
    assert "pretrained at 48x64" in capsys.readouterr().err
    assert train_main([*base, f"--output_dir={tmp_path / 'b'}", "--policy.freeze_backbone=true"]) == 2
    assert "--policy.backbone_weights" in capsys.readouterr().err
    assert train_main([*base, f"--output_dir={tmp_path / 'c2'}",
                       f"--policy.backbone_weights={tmp_path / 'none.safetensors'}"]) == 2
    assert "so101 pretrain-encoder" in capsys.readouterr().err
    assert pretrain_main([f"--output={tmp_path / 'e.safetensors'}", *SMALL]) == 2
    assert "--dataset.root" in capsys.readouterr().err
    assert pretrain_main([f"--dataset.root={tiny_dataset}", f"--output={tmp_path / 'e.pt'}", *SMALL]) == 2
    assert ".safetensors" in capsys.readouterr().err


def test_bench_train_times_a_frozen_backbone(encoder, tiny_dataset, tmp_path, capsys) -> None:
    from so101.training.benchmark import main as bench_main

    argv = [f"--dataset.root={tiny_dataset}", "--steps=2", "--warmup_steps=1", "--batch_size=2", "--num_workers=0",
            f"--cache_dir={tmp_path}", "--policy.image_height=48", "--policy.image_width=64",
            "--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64",
            f"--policy.backbone_weights={encoder}", "--policy.freeze_backbone=true"]
    assert bench_main(argv) == 0
    assert "backbone frozen" in capsys.readouterr().out
