"""Simulation: the SO-101 pick-and-place scene in MuJoCo, its Gymnasium environment and its viewer."""

import os as _os

# MuJoCo picks its OpenGL backend when it is first imported. Without a display, default to EGL (Mesa's
# software renderer serves when there is no GPU); MUJOCO_GL=osmesa or glfw overrides.
if not _os.environ.get("MUJOCO_GL") and not _os.environ.get("DISPLAY"):
    _os.environ["MUJOCO_GL"] = "egl"
