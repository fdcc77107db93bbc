"""The scene in a headset: MuJoCo rendered per eye into an OpenXR session's swapchains, a mirror, a status panel.

``StereoView`` is a ``so101.sim.control_loop.View``: a ``ControlClock`` draws it between control ticks at the headset's
display period, so physics keeps the control rate and frames keep the display rate. Each ``draw``:

1. handles the runtime's events (the session state machine, ``so101.teleop.vr.session``);
2. begins the frame the runtime asked for, if a ``FramePacer`` thread has one ready (``xrWaitFrame`` blocks up to a
   display period, so it runs on that thread: physics never waits for the display);
3. when the session is visible, locates both eyes at the frame's predicted display time, updates the MuJoCo scene
   once, and renders it per eye with that eye's pose and asymmetric field of view (MuJoCo's camera frustum set
   per eye), at 1:1 scale through ``so101.teleop.vr.anchor``; the status panel is overlaid in each eye; each eye's image
   is blitted into its swapchain image;
4. ends the frame with one projection layer, then shows the left eye in the mirror window, if there is one.

Rendering uses MuJoCo's offscreen buffer (``so101.sim.rendering``'s render profiles: ``fast`` for weak or software GL)
in the session's GL context, which takes turns with the robot cameras' through ``so101.sim.gl_context``.
"""

from __future__ import annotations

import ctypes
import time
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np

from so101.kinematics.pose import Pose, quat_rotate
from so101.sim.gl_context import make_current
from so101.sim.rendering import RenderProfile, apply_render_profile, configure_scene_flags, scene_option
from so101.sim.simulator import So101Sim
from so101.teleop.vr.anchor import WorkspaceAnchor
from so101.teleop.vr.frame_pacer import FramePacer

if TYPE_CHECKING:
    from so101.teleop.vr.session import XrSession

PANEL_DEPTH_M = 0.8
"""Distance at which the status panel appears (m): nearer than the workspace, within arm's length."""
_GL_SRGB8_ALPHA8 = 0x8C43
_GL_RGBA8 = 0x8058
_FORMATS = (_GL_SRGB8_ALPHA8, _GL_RGBA8)
"""Swapchain formats, preferred first: MuJoCo writes sRGB-encoded colours, which an sRGB image shows as meant."""


def eye_camera(pose: Pose, fov: tuple[float, float, float, float], near: float, far: float, camera: Any) -> None:
    """Set a ``mujoco.MjvGLCamera`` to an eye: ``pose`` in the world (looking along its -z, +y up) and the field
    of view's angles (left, right, down, up; rad; left and down negative) as an asymmetric frustum."""
    camera.pos[:] = pose.position
    camera.forward[:] = quat_rotate(pose.quat, np.array([0.0, 0.0, -1.0]))
    camera.up[:] = quat_rotate(pose.quat, np.array([0.0, 1.0, 0.0]))
    left, right, down, up = (near * np.tan(angle) for angle in fov)
    camera.frustum_center = 0.5 * (left + right)
    camera.frustum_width = 0.5 * (right - left)
    camera.frustum_bottom = down
    camera.frustum_top = up
    camera.frustum_near = near
    camera.frustum_far = far
    camera.orthographic = 0


def _font_scale(width: int) -> int:
    # Headset eyes are ~2000 px wide and seen up close: a larger font reads at the same angle as a desktop's.
    return int(mujoco.mjtFontScale.mjFONTSCALE_200 if width >= 1200 else mujoco.mjtFontScale.mjFONTSCALE_100)


def _make_context(model: mujoco.MjModel, profile: RenderProfile, sizes: list[tuple[int, int]]) -> mujoco.MjrContext:
    """A MuJoCo render context with ``profile``'s multisampling and tessellation and an offscreen buffer as large as
    the largest eye. The model's visual settings are put back afterwards: they belong to the robot cameras, whose
    images are recorded with their own profile."""
    quality, buffers = model.vis.quality, model.vis.global_
    saved = (quality.offsamples, quality.numslices, quality.numstacks, quality.numquads, buffers.offwidth,
             buffers.offheight)  # fmt: skip
    try:
        apply_render_profile(model, profile)
        buffers.offwidth = max(buffers.offwidth, *(w for w, _ in sizes))
        buffers.offheight = max(buffers.offheight, *(h for _, h in sizes))
        return mujoco.MjrContext(model, _font_scale(sizes[0][0]))
    finally:
        (quality.offsamples, quality.numslices, quality.numstacks, quality.numquads, buffers.offwidth,
         buffers.offheight) = saved  # fmt: skip


class StereoView:
    """A ``so101.sim.control_loop.View`` drawing ``sim`` into ``session``'s headset.

    Args:
        sim: the simulation shown (read between control ticks).
        session: a running-or-starting OpenXR session with its GL context.
        anchor: where the workspace stands; placed at the first tracked frame if not yet.
        profile: render profile (``fast`` or ``quality``).
        capture: keep each eye's last image (``last_eyes``), read back from the swapchain: tests and checks.
    """

    def __init__(
        self,
        sim: So101Sim,
        session: XrSession,
        anchor: WorkspaceAnchor | None = None,
        profile: RenderProfile = "fast",
        capture: bool = False,
    ) -> None:
        import xr
        from OpenGL import GL

        self._xr, self._gl_api = xr, GL
        self.sim, self.session = sim, session
        self.anchor = anchor or WorkspaceAnchor()
        self.capture = capture
        self.status_lines: list[str] = []
        """Lines of the in-headset status panel (episode, time, recording or paused, task signals)."""
        self.last_eyes: list[np.ndarray] = []
        """With ``capture``: each eye's last image, (height, width, 3) uint8, top row first."""
        self.frames = 0
        """Frames submitted (ended), rendered or not."""
        self.rendered = 0
        """Frames rendered into the swapchains."""
        self.render_ms: list[float] = []
        """CPU time of each rendered frame (ms): scene update, both eyes, blits and ``xrEndFrame``."""
        self._sizes = [view.recommended for view in session.views]
        model = sim.model
        assert session.gl is not None
        self._context_owner = session.gl
        make_current(session.gl)
        self._context: mujoco.MjrContext | None = _make_context(model, profile, self._sizes)
        self._font = _font_scale(self._sizes[0][0])
        self._scene = mujoco.MjvScene(model, maxgeom=10_000)
        configure_scene_flags(self._scene, profile)
        self._option = scene_option(profile)
        self._camera = mujoco.MjvCamera()
        self._fbo = int(GL.glGenFramebuffers(1))
        formats = list(xr.enumerate_swapchain_formats(session.session))
        chosen = next((f for f in _FORMATS if f in formats), None)
        if chosen is None:
            raise RuntimeError(f"the runtime offers no 8-bit RGBA swapchain format (it offers {formats})")
        self._swapchains: list[Any] = []
        self._images: list[Any] = []
        for width, height in self._sizes:
            swapchain = xr.create_swapchain(
                session.session,
                xr.SwapchainCreateInfo(
                    usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT | xr.SwapchainUsageFlags.SAMPLED_BIT,
                    format=chosen, sample_count=1, width=width, height=height, face_count=1, array_size=1,
                    mip_count=1,
                ),
            )  # fmt: skip
            self._swapchains.append(swapchain)
            self._images.append(xr.enumerate_swapchain_images(swapchain, xr.SwapchainImageOpenGLKHR))
        self._pacer = FramePacer(session)

    @property
    def frame_period_s(self) -> float:
        """How often the control clock offers time to draw (s): a quarter of the display period, so that a frame
        the runtime has asked for (``FramePacer``) is rendered within a quarter period of being ready."""
        return 0.25 * self.session.display_period_s

    def recenter(self) -> bool:
        """Put the workspace in front of the head as it is now; False while the head is not tracked."""
        head = self.session.head()
        if head is None:
            return False
        self.anchor.recenter(head)
        return True

    def draw(self) -> bool:
        """Handle the runtime's events, then render and submit the frame the runtime asked for, if one is ready;
        never waits (the ``so101.sim.control_loop.View`` the control clock draws between ticks). True if a frame was
        submitted."""
        return self.draw_wait(0.0)

    def draw_wait(self, timeout_s: float = 0.1) -> bool:
        """``draw``, waiting up to ``timeout_s`` for the runtime's next frame (loops outside the control clock:
        waiting for the start button, paused). True if a frame was submitted."""
        session = self.session
        session.poll_events()
        if not session.running or session.ended:
            if timeout_s > 0:
                time.sleep(min(timeout_s, 0.01))
            return False
        frame_state = self._pacer.take(timeout_s)
        if frame_state is None:
            return False
        began = session.begin_frame(frame_state)
        self._pacer.began()
        if not began:
            return False
        start = time.perf_counter()
        layers: list[Any] = []
        layer = None
        if frame_state.should_render and session.visible:
            views = session.locate_views(frame_state.predicted_display_time)
            if views is not None:
                layer = self._render(views, frame_state.predicted_display_time)
                layers.append(ctypes.byref(layer))
        session.end_frame(frame_state, layers)
        self.frames += 1
        if layer is not None:
            self.rendered += 1
            self.render_ms.append(1000.0 * (time.perf_counter() - start))
            self._mirror()
        return True

    def _render(self, views: list[Any], display_time: int) -> Any:
        xr, GL = self._xr, self._gl_api
        from so101.teleop.vr.session import xr_pose

        session, model = self.session, self.sim.model
        if not self.anchor.is_set:
            head = session.head(display_time)
            if head is not None:
                self.anchor.recenter(head)
            else:  # the eyes are tracked: their midpoint is the head
                first, second = xr_pose(views[0].pose), xr_pose(views[-1].pose)
                self.anchor.recenter(Pose(0.5 * (first.position + second.position), first.quat))
        make_current(self._context_owner)
        assert self._context is not None
        mujoco.mjv_updateScene(
            model, self.sim.data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene
        )
        extent = model.stat.extent
        near, far = model.vis.map.znear * extent, model.vis.map.zfar * extent
        projection_views = []
        if self.capture:
            self.last_eyes = []
        eyes = [xr_pose(view.pose) for view in views]
        middle = np.mean([eye.position for eye in eyes], axis=0)
        for index, view in enumerate(views):
            width, height = self._sizes[index]
            pose = self.anchor.to_world(eyes[index])
            fov = (view.fov.angle_left, view.fov.angle_right, view.fov.angle_down, view.fov.angle_up)
            for camera in self._scene.camera:  # both slots: mjr_render averages them when not in stereo mode
                eye_camera(pose, fov, near, far, camera)
            viewport = mujoco.MjrRect(0, 0, width, height)
            mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
            mujoco.mjr_render(viewport, self._scene, self._context)
            if self.status_lines:
                # Drawn at the same place in both eyes, text would float at infinity, behind the scene; shifting it
                # by each eye's share of the parallax puts it PANEL_DEPTH_M away, in front of the workspace.
                side = quat_rotate(eyes[index].quat, np.array([1.0, 0.0, 0.0])) @ (eyes[index].position - middle)
                focal = width / (np.tan(fov[1]) - np.tan(fov[0]))
                shift = int(np.rint(-side * focal / PANEL_DEPTH_M))
                left, bottom = int(0.2 * width) + shift, int(0.25 * height)
                panel = mujoco.MjrRect(left, bottom, int(0.6 * width), int(0.25 * height))
                text = "\n".join(self.status_lines)
                mujoco.mjr_overlay(self._font, mujoco.mjtGridPos.mjGRID_TOPLEFT, panel, text, "", self._context)
            swapchain = self._swapchains[index]
            image_index = xr.acquire_swapchain_image(swapchain, xr.SwapchainImageAcquireInfo())
            xr.wait_swapchain_image(swapchain, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
            texture = self._images[index][image_index].image
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._fbo)
            GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, texture, 0)
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._context.offFBO)
            GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
            if self.capture:
                GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
                pixels = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
                image = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, 3)
                self.last_eyes.append(np.ascontiguousarray(image[::-1]))
            if index == 0 and self._context_owner.window is not None:
                self._blit_mirror(width, height)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            xr.release_swapchain_image(swapchain, xr.SwapchainImageReleaseInfo())
            projection_views.append(
                xr.CompositionLayerProjectionView(
                    pose=view.pose,
                    fov=view.fov,
                    sub_image=xr.SwapchainSubImage(
                        swapchain=swapchain,
                        image_rect=xr.Rect2Di(offset=xr.Offset2Di(0, 0), extent=xr.Extent2Di(width, height)),
                    ),
                )
            )
        self._layer_views = (xr.CompositionLayerProjectionView * len(projection_views))(*projection_views)
        return xr.CompositionLayerProjection(space=session.space, views=self._layer_views)

    def _blit_mirror(self, width: int, height: int) -> None:
        """Copy the left eye (in the swapchain image bound to our framebuffer) to the mirror window's back buffer,
        scaled to fit and centred."""
        GL, glfw = self._gl_api, self._context_owner._glfw
        win_w, win_h = glfw.get_framebuffer_size(self._context_owner.window)
        scale = min(win_w / width, win_h / height)
        out_w, out_h = int(width * scale), int(height * scale)
        x0, y0 = (win_w - out_w) // 2, (win_h - out_h) // 2
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        GL.glClearColor(0.0, 0.0, 0.0, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        GL.glBlitFramebuffer(0, 0, width, height, x0, y0, x0 + out_w, y0 + out_h, GL.GL_COLOR_BUFFER_BIT,
                             GL.GL_LINEAR)  # fmt: skip

    def _mirror(self) -> None:
        if self._context_owner.window is not None:
            make_current(self._context_owner)
            self._context_owner.swap()

    def close(self) -> None:
        """Free the swapchains and GL objects (idempotent); the session closes separately, afterwards."""
        if self._context is None:
            return
        self._pacer.close()
        for swapchain in self._swapchains:
            self._xr.destroy_swapchain(swapchain)
        self._swapchains.clear()
        if self._context_owner.alive:
            make_current(self._context_owner)
            self._gl_api.glDeleteFramebuffers(1, [self._fbo])
            self._context.free()
        self._context = None
