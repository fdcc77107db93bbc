"""Tests of so101.inference.policy_runner on a small real (untrained) LeRobot ACT: chunk queue, temporal ensembling,
observation names, and call timing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from so101.inference.benchmark import write_untrained_checkpoint
from so101.inference.policy_runner import CallTiming, PolicyRunner
from so101.policies.act import ActPolicyConfig

TINY = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                       chunk_size=10, n_action_steps=10, image_height=48, image_width=64, pretrained_backbone=False,
                       device="cpu")  # fmt: skip
CAMERA_SIZE = (96, 128)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_untrained_checkpoint(tmp_path_factory.mktemp("runner") / "act", TINY, CAMERA_SIZE)


def _inputs(seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    state = rng.uniform(-30, 30, size=6)
    cameras = ("overhead_cam", "wrist_cam")
    images = {name: rng.integers(0, 256, size=(*CAMERA_SIZE, 3), dtype=np.uint8) for name in cameras}
    return state, images


def test_chunk_queue_calls_the_policy_every_n_action_steps(checkpoint: Path) -> None:
    runner = PolicyRunner.from_checkpoint(checkpoint, device="cpu", n_action_steps=4)
    assert runner.n_action_steps == 4 and not runner.temporal_ensemble
    assert runner.cameras == ["overhead_cam", "wrist_cam"]
    runner.reset()
    state, images = _inputs()
    needed = []
    for _ in range(12):
        needed.append(runner.needs_images)
        action = runner.act(state, images if runner.needs_images else None)
        assert action.shape == (6,) and np.all(np.isfinite(action))
    assert needed == [True, False, False, False] * 3
    timing = runner.timing
    assert timing.count == 3
    assert timing.total_s == pytest.approx(sum(timing.durations_s))
    assert 0 < timing.median_s <= timing.max_s
    runner.reset()
    assert runner.needs_images and runner.timing.count == 0


def test_actions_are_those_of_lerobots_own_action_queue(checkpoint: Path) -> None:
    import torch

    runner = PolicyRunner.from_checkpoint(checkpoint, device="cpu", n_action_steps=5)
    state, images = _inputs(1)
    runner.reset()
    ours = [runner.act(state, images) for _ in range(5)]
    policy, pre, post = runner.policy, runner.preprocessor, runner.postprocessor
    policy.reset()
    with torch.inference_mode():
        batch = pre(runner.observation(state, images))
        theirs = [post(policy.select_action(batch))[0].numpy() for _ in range(5)]
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, atol=1e-4)


def test_temporal_ensembling_queries_every_step_and_averages_overlapping_chunks(checkpoint: Path) -> None:
    import torch

    coeff = 0.01
    runner = PolicyRunner.from_checkpoint(checkpoint, device="cpu", temporal_ensemble_coeff=coeff)
    assert runner.temporal_ensemble and runner.n_action_steps == 1
    state, images = _inputs(2)
    runner.reset()
    first = runner.act(state, images)
    assert runner.needs_images
    second = runner.act(state, images)
    assert runner.timing.count == 2
    with torch.inference_mode():
        batch = runner.preprocessor(runner.observation(state, images))
        chunk = runner.postprocessor(runner.policy.predict_action_chunk(batch))[0].numpy()
    # Unit normalisation stats: ensembling in normalised units is ensembling in dataset units. Step 1 averages the
    # first chunk's action for t=1 (the oldest, weight 1) with the second chunk's for t=1 (weight exp(-coeff)).
    np.testing.assert_allclose(first, chunk[0], rtol=1e-5, atol=1e-4)
    newer = math.exp(-coeff)
    np.testing.assert_allclose(second, (chunk[1] + newer * chunk[0]) / (1 + newer), rtol=1e-5, atol=1e-4)


def test_observation_uses_lerobot_names_and_refuses_missing_inputs(checkpoint: Path) -> None:
    runner = PolicyRunner.from_checkpoint(checkpoint, device="cpu")
    state, images = _inputs(3)
    observation = runner.observation(state, images)
    assert set(observation) == {"observation.state", "observation.images.overhead_cam", "observation.images.wrist_cam"}
    image = observation["observation.images.wrist_cam"]
    assert tuple(image.shape) == (3, *CAMERA_SIZE)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert np.allclose(observation["observation.state"].numpy(), state.astype(np.float32))
    runner.reset()
    with pytest.raises(ValueError, match="pass the camera images"):
        runner.act(state, None)
    with pytest.raises(ValueError, match=r"\['wrist_cam'\] are missing"):
        runner.act(state, {"overhead_cam": images["overhead_cam"]})
    with pytest.raises(ValueError, match="uint8"):
        runner.observation(state, {name: image.astype(np.float32) for name, image in images.items()})


def test_call_timing_statistics() -> None:
    timing = CallTiming([0.03, 0.01, 0.02, 0.10])
    assert timing.count == 4
    assert timing.total_s == pytest.approx(0.16)
    assert timing.median_s == pytest.approx(0.025)
    assert timing.max_s == pytest.approx(0.10)
    assert "4 policy calls, median 25.0 ms, max 100.0 ms" in timing.line()
    assert CallTiming().median_s == 0.0 and CallTiming().max_s == 0.0
