"""The scripted expert: places the brick, moves smoothly within the limits, retries a missed grasp."""

from __future__ import annotations

import numpy as np
import pytest

from so101.sim.simulator import So101Sim
from so101.teleop.scripted_expert import PHASES, ExpertConfig, NoiseConfig, ScriptedExpert


@pytest.fixture(scope="module")
def sim() -> So101Sim:
    return So101Sim()


def run(sim: So101Sim, expert: ScriptedExpert, seed: int, frames: int = 600, on_frame=None) -> tuple[bool, np.ndarray]:
    sim.reset(seed)
    expert.start_episode(sim)
    actions = []
    for t in range(frames):
        action = expert.next_action(sim)
        actions.append(action)
        if on_frame is not None:
            on_frame(t, sim)
        if sim.step(action).success:
            return True, np.array(actions)
    return False, np.array(actions)


@pytest.mark.parametrize("seed", [0, 5])
def test_places_the_brick_in_the_bowl_through_every_phase(sim: So101Sim, seed: int) -> None:
    expert = ScriptedExpert()
    success, actions = run(sim, expert, seed)
    assert success
    assert expert.phase_log[:6] == list(PHASES[:6])
    assert expert.attempts == 1
    # A careful demonstrator at 30 fps: several seconds, not a teleport.
    assert 150 < len(actions) < 450


def test_targets_stay_within_the_joint_limits_and_move_smoothly(sim: So101Sim) -> None:
    config = ExpertConfig()
    _, actions = run(sim, ScriptedExpert(config), seed=2)
    limits = sim.scene.limits
    low, high = np.rad2deg(limits.lower[:5]), np.rad2deg(limits.upper[:5])
    assert np.all(actions[:, :5] >= low - 1e-6) and np.all(actions[:, :5] <= high + 1e-6)
    assert np.all((actions[:, 5] >= 0.0) & (actions[:, 5] <= 100.0))
    steps = np.abs(np.diff(actions[:, :5], axis=0))
    assert steps.max() <= config.max_joint_step_deg + 1e-6


def test_noise_varies_the_demonstration_but_the_same_scene_repeats_it(sim: So101Sim) -> None:
    noisy = ExpertConfig(noise=NoiseConfig(enabled=True, regrasp_probability=0.0))
    ok_a, first = run(sim, ScriptedExpert(noisy), seed=3)
    ok_b, again = run(sim, ScriptedExpert(noisy), seed=3)
    ok_c, clean = run(sim, ScriptedExpert(), seed=3)
    assert ok_a and ok_b and ok_c
    np.testing.assert_array_equal(first, again)
    assert len(first) != len(clean) or not np.allclose(first, clean)


def test_a_forced_regrasp_opens_rises_and_grasps_again(sim: So101Sim) -> None:
    expert = ScriptedExpert(ExpertConfig(noise=NoiseConfig(enabled=True, regrasp_probability=1.0)))
    success, _ = run(sim, expert, seed=4, frames=900)
    assert success
    assert expert.phase_log[:6] == ["approach", "descend", "close", "recover", "approach", "descend"]


def test_a_missed_grasp_is_seen_and_retried(sim: So101Sim) -> None:
    expert = ScriptedExpert()
    moved = {}

    def push_brick_away(t: int, s: So101Sim) -> None:
        # As the gripper starts down, slide the brick 5 cm towards the base: the jaws close on nothing.
        if expert.phase == "descend" and not moved:
            adr = s.scene.brick_qpos_adr
            s.data.qpos[adr] -= 0.05
            moved["at"] = t

    success, _ = run(sim, expert, seed=1, frames=900, on_frame=push_brick_away)
    assert moved
    assert success
    assert expert.attempts == 2
    assert "recover" in expert.phase_log


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="speed"):
        ExpertConfig(speed=0.0)
    with pytest.raises(ValueError, match="speed_range"):
        NoiseConfig(speed_range=(1.2, 0.8))


def test_grasp_choice_depends_on_the_brick_orientation_alone(sim: So101Sim) -> None:
    """Of the brick's two grasps (half a turn apart), the one near ``grasp_yaw_centre`` everywhere in its region:
    one boundary, not one that moves with the brick's place or the arm's pose."""
    import math

    from so101.sim.randomization import ScenePlacement

    expert = ScriptedExpert()
    centre = expert.config.grasp_yaw_centre
    height = float(sim.scene.brick_half_size[2])
    for yaw_deg in range(-180, 180, 15):
        chosen = set()
        for x, y in [(0.17, 0.05), (0.25, 0.05), (0.17, 0.13), (0.25, 0.13), (0.21, 0.09)]:
            sim.reset(ScenePlacement(seed=1, brick_pos=(x, y, height), brick_yaw=math.radians(yaw_deg),
                                     bowl_pos=(0.2, -0.135, 0.0)))
            expert.start_episode(sim)
            assert abs(math.remainder(expert._grasp_yaw - centre, 2 * math.pi)) <= math.pi / 2 + 1e-6
            chosen.add(round(math.degrees(expert._grasp_yaw)) % 360)
        assert len(chosen) == 1, f"brick yaw {yaw_deg} deg: grasp yaws {chosen} differ across the region"
