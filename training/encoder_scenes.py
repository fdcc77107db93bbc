"""Labelled camera images for pretraining the policy's image encoder: random scenes, rendered, with where things are.

A scene is a randomized placement (the same distribution as recordings and evaluations, drawn from
``ENCODER_SEEDS``, disjoint from every other range) with the arm put at a joint pose taken from the demonstrations,
so the images show the arm where it goes during the task, occluding what it occludes there. Each scene is rendered
from every camera at the policy's image size and labelled from the simulator's state:

* ``overhead`` (a fixed camera): the brick's centre (x, y) and its orientation as (cos 2 yaw, sin 2 yaw) (a 2x4 brick
  looks the same turned half a turn), and the bowl's centre (x, y); world frame, positions scaled to about [-1, 1]
  by the randomization ranges (``label_scales``);
* ``wrist`` (a camera that moves with the arm): where the brick's centre appears, as (u, v) in [-1, 1] across the
  image (u right, v up), and its depth along the view axis (m, / 0.1), with a mask that is 1 only when the centre is
  in front of the camera and within the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from so101.sim.randomization import RandomizationConfig
from so101.sim.scene import CameraConfig

ENCODER_SEEDS = range(400_000, 1_000_000)
"""Scene seeds of encoder pretraining: apart from recordings (from 0), selection, test and grid scenes."""
OVERHEAD_LABELS = ("brick.x", "brick.y", "brick.cos2yaw", "brick.sin2yaw", "bowl.x", "bowl.y")
WRIST_LABELS = ("brick.u", "brick.v", "brick.depth")
WRIST_DEPTH_SCALE_M = 0.1
FIXED_CAMERAS = ("overhead_cam", "front_cam")
"""Cameras fixed in the world, labelled with world positions; every other camera moves with the arm."""


@dataclass
class LabelledScenes:
    """Rendered scenes: ``images[camera]`` (N, H, W, 3) uint8; ``labels[camera]`` (N, L) float32 and
    ``masks[camera]`` (N, L) float32 (1 where the label is defined)."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    seeds: range

    def __len__(self) -> int:
        return len(self.seeds)


def label_names(camera: str) -> tuple[str, ...]:
    return OVERHEAD_LABELS if camera in FIXED_CAMERAS else WRIST_LABELS


def label_scales(randomization: RandomizationConfig) -> tuple[np.ndarray, np.ndarray]:
    """(centre, half range) of each overhead label: positions map to [-1, 1] over the randomized ranges."""
    bx, by = randomization.brick_nominal_xy
    jitter = max(randomization.brick_jitter, 1e-3)
    (x0, x1), (y0, y1) = randomization.bowl_x_range, randomization.bowl_y_range
    centre = np.array([bx, by, 0.0, 0.0, (x0 + x1) / 2, (y0 + y1) / 2])
    half = np.array([jitter, jitter, 1.0, 1.0, max((x1 - x0) / 2, 1e-3), max((y1 - y0) / 2, 1e-3)])
    return centre, half


def render_scenes(
    cameras: list[CameraConfig],
    arm_poses: np.ndarray,
    scenes: int,
    first_seed: int = ENCODER_SEEDS.start,
    render_profile: str = "fast",
) -> LabelledScenes:
    """Render ``scenes`` random scenes from ``cameras``, the arm at poses drawn from ``arm_poses`` ((M, 6), dataset
    units); seeds ``first_seed ..``, each scene's arm pose chosen by its seed."""
    import mujoco

    from so101.sim.rendering import CameraRenderer
    from so101.sim.scene import SceneConfig
    from so101.sim.simulator import So101Sim

    if scenes < 1:
        raise ValueError(f"scenes must be at least 1, got {scenes}")
    seeds = range(first_seed, first_seed + scenes)
    if seeds.stop > ENCODER_SEEDS.stop or first_seed < ENCODER_SEEDS.start:
        raise ValueError(f"encoder scene seeds must lie in {ENCODER_SEEDS.start}-{ENCODER_SEEDS.stop - 1}")
    sim = So101Sim(SceneConfig(), RandomizationConfig())
    centre, half = label_scales(sim.randomization)
    images = {c.name: np.empty((scenes, c.height, c.width, 3), np.uint8) for c in cameras}
    labels = {c.name: np.zeros((scenes, len(label_names(c.name))), np.float32) for c in cameras}
    masks = {c.name: np.ones((scenes, len(label_names(c.name))), np.float32) for c in cameras}
    camera_ids = {c.name: mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, c.name) for c in cameras}
    with CameraRenderer(sim.model, cameras, render_profile) as renderer:
        for i, seed in enumerate(seeds):
            sim.reset(seed)
            sim.place_arm(arm_poses[np.random.default_rng(seed).integers(len(arm_poses))])
            frames = renderer.render(sim.data)
            brick = np.array(sim.placement.brick_pos)
            yaw = sim.placement.brick_yaw
            bowl = np.array(sim.placement.bowl_pos)
            for camera in cameras:
                name = camera.name
                images[name][i] = frames[name]
                if name in FIXED_CAMERAS:
                    raw = np.array([brick[0], brick[1], np.cos(2 * yaw), np.sin(2 * yaw), bowl[0], bowl[1]])
                    labels[name][i] = (raw - centre) / half
                else:
                    labels[name][i], masks[name][i] = _wrist_label(sim, camera, camera_ids[name], brick)
    return LabelledScenes(images, labels, masks, seeds)


def _wrist_label(sim: object, camera: CameraConfig, camera_id: int, point: np.ndarray) -> tuple[np.ndarray, float]:
    """(u, v, depth / WRIST_DEPTH_SCALE_M) of a world point seen by a camera, and 1.0 if it is in view else 0.0."""
    model, data = sim.model, sim.data  # type: ignore[attr-defined]
    rotation = data.cam_xmat[camera_id].reshape(3, 3)  # columns: the camera's axes in the world frame
    local = rotation.T @ (point - data.cam_xpos[camera_id])  # MuJoCo cameras look along -z, +y up
    depth = -local[2]
    if depth <= 1e-3:
        return np.zeros(3, np.float32), 0.0
    tan_half_y = np.tan(np.deg2rad(model.cam_fovy[camera_id]) / 2)
    tan_half_x = tan_half_y * camera.width / camera.height
    u, v = local[0] / depth / tan_half_x, local[1] / depth / tan_half_y
    visible = float(abs(u) < 1 and abs(v) < 1)
    return np.array([u, v, depth / WRIST_DEPTH_SCALE_M], np.float32), visible
