"""Headless camera rendering in both profiles."""

from __future__ import annotations

import numpy as np
import pytest

from so101.sim.rendering import CameraRenderer
from so101.sim.scene import CameraConfig
from so101.sim.simulator import So101Sim


def _red_pixels(image: np.ndarray) -> np.ndarray:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r > 120) & (g < 60) & (b < 60)


def test_cameras_render_the_scene_with_the_brick_where_it_is() -> None:
    sim = So101Sim()
    sim.reset(0)
    cameras = [CameraConfig("overhead_cam", 160, 120), CameraConfig("wrist_cam", 96, 96)]
    with CameraRenderer(sim.model, cameras, "fast") as renderer:
        images = renderer.render(sim.data)
    assert images["overhead_cam"].shape == (120, 160, 3) and images["overhead_cam"].dtype == np.uint8
    assert images["wrist_cam"].shape == (96, 96, 3)
    red = _red_pixels(images["overhead_cam"])
    assert red.sum() > 20
    # Overhead camera: image up is +x, image right is -y. The brick sits at +y, so left of centre.
    _rows, columns = np.nonzero(red)
    brick_y = sim.placement.brick_pos[1]
    assert (columns.mean() < 80) == (brick_y > 0)


def test_profiles_differ_and_quality_has_shadows() -> None:
    sim = So101Sim()
    sim.reset(1)
    camera = [CameraConfig("front_cam", 128, 96)]
    with CameraRenderer(sim.model, camera, "fast") as fast:
        fast_image = fast.render(sim.data)["front_cam"]
    with CameraRenderer(sim.model, camera, "quality") as quality:
        quality_image = quality.render(sim.data)["front_cam"]
    assert not np.array_equal(fast_image, quality_image)


def test_bad_camera_lists_are_refused() -> None:
    sim = So101Sim()
    with pytest.raises(ValueError, match="once"):
        CameraRenderer(sim.model, [CameraConfig("wrist_cam"), CameraConfig("wrist_cam")])
    with pytest.raises(ValueError, match="render profile"):
        CameraRenderer(sim.model, [CameraConfig("wrist_cam")], "pretty")  # type: ignore[arg-type]


def test_renderers_take_turns_and_close_once_in_any_order() -> None:
    sim = So101Sim()
    sim.reset(2)
    first = CameraRenderer(sim.model, [CameraConfig("overhead_cam", 96, 72)], "fast")
    second = CameraRenderer(sim.model, [CameraConfig("overhead_cam", 96, 72), CameraConfig("wrist_cam", 64, 48)])
    before = first.render(sim.data)["overhead_cam"]
    assert np.array_equal(second.render(sim.data)["overhead_cam"], before)
    assert np.array_equal(first.render(sim.data)["overhead_cam"], before)  # its context is current again
    first.close()
    first.close()
    assert second.render(sim.data)["wrist_cam"].shape == (48, 64, 3)
    with pytest.raises(RuntimeError, match="closed"):
        first.render(sim.data)
    second.close()
    second.close()


def test_a_renderer_without_cameras_renders_nothing() -> None:
    sim = So101Sim()
    sim.reset(0)
    with CameraRenderer(sim.model, [], "fast") as renderer:
        assert renderer.render(sim.data) == {}


def test_the_gl_context_opens_at_the_first_render() -> None:
    sim = So101Sim()
    sim.reset(0)
    renderer = CameraRenderer(sim.model, [CameraConfig("overhead_cam", 64, 48)], "fast")
    assert not renderer.has_gl_context
    image = renderer.render(sim.data)["overhead_cam"]
    assert renderer.has_gl_context
    assert np.array_equal(renderer.render(sim.data)["overhead_cam"], image)
    renderer.close()
    assert not renderer.has_gl_context
    unused = CameraRenderer(sim.model, [CameraConfig("overhead_cam", 64, 48)], "fast")
    unused.close()
    with pytest.raises(RuntimeError, match="closed"):
        unused.render(sim.data)


def test_a_renderer_draws_in_its_own_profile_whatever_was_built_after_it() -> None:
    sim = So101Sim()
    sim.reset(1)
    camera = [CameraConfig("front_cam", 128, 96)]
    with CameraRenderer(sim.model, camera, "fast") as alone:
        expected = alone.render(sim.data)["front_cam"]
    fast = CameraRenderer(sim.model, camera, "fast")
    quality = CameraRenderer(sim.model, camera, "quality")  # sets the model's multisampling and tessellation
    assert np.array_equal(fast.render(sim.data)["front_cam"], expected)  # its context opens after that
    assert not np.array_equal(quality.render(sim.data)["front_cam"], expected)
    fast.close()
    quality.close()
