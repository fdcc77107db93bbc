"""What machine a benchmark ran on: CPU model, cores, OpenGL renderer. Every ``so101 bench`` prints it."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@functools.cache
def gl_renderer() -> str:
    """The OpenGL renderer MuJoCo's offscreen rendering uses (e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``)."""
    import mujoco

    try:
        context = mujoco.GLContext(16, 16)
    except Exception as error:  # no GL at all: say so in the report instead of failing the benchmark
        return f"unavailable ({type(error).__name__}: {error})"
    try:
        context.make_current()
        from OpenGL import GL

        renderer = GL.glGetString(GL.GL_RENDERER)
        return renderer.decode() if isinstance(renderer, bytes) else str(renderer)
    except Exception as error:
        return f"unknown ({type(error).__name__})"
    finally:
        context.free()


def machine_line(gl: bool = True) -> str:
    """``machine: <CPU>, <n> cores, GL <renderer> (<MUJOCO_GL>)`` for a benchmark's report."""
    line = f"machine: {cpu_model()}, {os.cpu_count()} cores"
    if gl:
        line += f", GL {gl_renderer()} (MUJOCO_GL={os.environ.get('MUJOCO_GL', 'default')})"
    return line
