"""``so101 pipeline``, the main job, end to end at a tiny size."""

from __future__ import annotations

from pathlib import Path

import pytest

from so101.training.pipeline import PipelineConfig, main


def test_pipeline_records_trains_evaluates_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    status = main([
        f"--output={out}", "--episodes=2", "--cameras.width=128", "--cameras.height=96",
        "--steps=4", "--batch_size=2", "--eval_freq=2", "--eval_episodes=1", "--final_episodes=1",
        "--encoder_steps=2", "--encoder_scenes=40",
    ])  # fmt: skip
    assert status == 0
    report = (out / "report.md").read_text()
    assert "Preset `demo`: a few minutes that show every stage working" in report  # what its success means
    for stage in ("record", "replay", "pretrain-encoder", "train", "eval"):
        assert f"| {stage} | `so101 {stage}" in report
    # The backbone pretrains at the policy's image size and ACT trains on it, frozen.
    assert "--image_height=96 --image_width=128 --steps=2 --scenes=40" in report
    assert f"--policy.backbone_weights={out / 'encoder.safetensors'} --policy.freeze_backbone=true" in report
    # Demonstrations with jittered waypoints, one pace, no deliberate regrasps; ACT without its variational objective.
    assert "--expert.noise.enabled=true --expert.noise.regrasp_probability=0" in report
    assert "--policy.use_vae=false" in report
    assert (out / "replay_episode_0.mp4").stat().st_size > 0
    assert (out / "train" / "eval_curve.png").is_file()
    assert list((out / "eval").glob("videos/**/*.mp4"))
    assert "| checkpoint | step | success |" in report
    # Checkpoints are selected on the selection seeds and the best one is judged on the test seeds; the report says so.
    assert "chose the best checkpoint on the selection scene seeds 100000;" in report
    assert "then evaluated on 1 scenes it was not chosen on, the test scene seeds 200000." in report
    assert "Evaluated on scene seeds 100000: selection seeds" in report
    assert "Evaluated on scene seeds 200000: test seeds, disjoint from the selection seeds" in report
    # A second run into the same folder would mix datasets: refused.
    assert main([f"--output={out}"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="policy_preset"):
        PipelineConfig(policy_preset="huge")


def test_presets_set_every_stage_and_options_override_them() -> None:
    cpu = PipelineConfig(preset="cpu")
    assert (cpu.episodes, cpu.cameras.width, cpu.cameras.height, cpu.final_episodes, cpu.grid) == (200, 128, 96, 100, 7)
    assert "--policy.n_action_steps=30" in cpu.policy_args
    assert not any("augment.shift" in arg for arg in cpu.policy_args)  # the frozen backbone reads fixed positions
    assert "--policy.use_vae=false" in cpu.policy_args and "--optimizer.lr=3e-4" in cpu.policy_args
    demo = PipelineConfig()
    assert (demo.episodes, demo.cameras.width, demo.steps, demo.grid, demo.encoder_steps) == (10, 320, 300, 0, 0)
    assert cpu.encoder_steps > 0 and cpu.encoder_scenes >= 10_000 and cpu.policy_image_size == (96, 128)
    assert PipelineConfig(preset="gpu").policy_image_size == (228, 304)
    mixed = PipelineConfig(preset="cpu", episodes=50, policy_preset="small")
    assert mixed.episodes == 50 and "--policy.dim_model=128" in mixed.policy_args and mixed.steps == cpu.steps
    assert PipelineConfig(preset="gpu").policy_args == []
    with pytest.raises(ValueError, match="--preset"):
        PipelineConfig(preset="huge")  # type: ignore[arg-type]
