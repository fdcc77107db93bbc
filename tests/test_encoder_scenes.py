"""Labelled scenes for encoder pretraining: labels that say where things are, in seeds of their own."""

from __future__ import annotations

import numpy as np
import pytest

from so101.inference.seeds import GRID_SEEDS, SELECTION_SEEDS, TEST_SEEDS
from so101.sim.randomization import RandomizationConfig, sample_placement
from so101.sim.scene import CameraConfig
from so101.training.encoder_scenes import ENCODER_SEEDS, label_scales, render_scenes

CAMERAS = [CameraConfig("overhead_cam", 128, 96), CameraConfig("wrist_cam", 128, 96)]
# Arm poses (degrees; gripper 0..100): the start pose, and over the brick's area looking down (a pose of the scripted
# expert's approach), from which the wrist camera sees the brick in every scene.
POSES = np.array([[0, -100, 100, 60, 0, 30], [-2.9, -42.9, 25.0, 85.5, 0.1, 12.9]], np.float32)


@pytest.fixture(scope="module")
def scenes():
    return render_scenes(CAMERAS, POSES, 40)


def test_encoder_seeds_are_apart_from_every_other_range() -> None:
    for other in (SELECTION_SEEDS, TEST_SEEDS, GRID_SEEDS):
        assert not set(range(ENCODER_SEEDS.start, ENCODER_SEEDS.start + 10)) & set(other)
        assert ENCODER_SEEDS.start >= other.stop or ENCODER_SEEDS.stop <= other.start
    with pytest.raises(ValueError, match="400000"):
        render_scenes(CAMERAS, POSES, 2, first_seed=TEST_SEEDS.start)


def test_overhead_labels_are_the_placement_scaled(scenes) -> None:
    from so101.sim.scene import build_scene

    centre, half = label_scales(RandomizationConfig())
    labels = scenes.labels["overhead_cam"] * half + centre
    half_size = build_scene().brick_half_size
    for i, seed in enumerate(scenes.seeds[:5]):
        placement = sample_placement(seed, RandomizationConfig(), half_size)
        np.testing.assert_allclose(labels[i, :2], placement.brick_pos[:2], atol=1e-6)
        np.testing.assert_allclose(labels[i, 4:], placement.bowl_pos[:2], atol=1e-6)
        # Half a turn looks the same, and is labelled the same.
        np.testing.assert_allclose(np.arctan2(labels[i, 3], labels[i, 2]) / 2 % np.pi,
                                   placement.brick_yaw % np.pi, atol=1e-5)
    assert np.abs(scenes.labels["overhead_cam"][:, :2]).max() <= 1.0 + 1e-6


def test_wrist_label_points_at_the_red_brick_in_the_image(scenes) -> None:
    visible = np.flatnonzero(scenes.masks["wrist_cam"][:, 0] > 0)
    assert len(visible) >= 10, "the approach pose shows the brick to the wrist camera"
    assert (scenes.masks["wrist_cam"][:, 0] == 0).any(), "the start pose often looks past the brick"
    hits = 0
    for i in visible:
        u, v, depth = scenes.labels["wrist_cam"][i]
        column, row = (u + 1) / 2 * 127, (1 - v) / 2 * 95
        image = scenes.images["wrist_cam"][i].astype(int)
        rows, columns = np.nonzero((image[..., 0] > 120) & (image[..., 1] < 80) & (image[..., 2] < 80))
        # The brick's centre projects inside its own red pixels (within 3 px: its studs and shading).
        hits += bool(len(rows)) and np.hypot(rows - row, columns - column).min() <= 3
        assert 0 < depth * 0.1 < 0.6
    # The label is geometric: at the image's lower edge the gripper's jaws may hide the brick.
    assert hits >= 0.9 * len(visible), (hits, len(visible))


def test_scenes_are_the_same_for_the_same_seeds(scenes) -> None:
    again = render_scenes(CAMERAS, POSES, 3)
    for camera in ("overhead_cam", "wrist_cam"):
        np.testing.assert_array_equal(again.images[camera], scenes.images[camera][:3])
        np.testing.assert_array_equal(again.labels[camera], scenes.labels[camera][:3])
