"""A process that imports ``so101 record`` once, then forks one recording per request: kill tests stay fast.

``Forker`` starts it and sends requests. Run as ``python tests/record_forker.py``; each line on stdin is a JSON
request ``{"argv": [...], "env": {...}, "log": path}``; the fork runs ``so101 <argv>`` with its stdout and
stderr in ``log`` and ``env`` added to its environment; the answer is one JSON line ``{"code": exit status}``
(-9 for a process killed by SIGKILL). A fresh interpreter that has created no GL context and no thread is safe to
fork, unlike pytest's own process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


class Forker:
    """The forking process, seen from a test: ``submit`` a recording, ``wait`` for its exit status."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).parents[1],
        )

    def submit(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        request = {"argv": argv, "env": {"HF_HUB_OFFLINE": "1", **(env or {})}, "log": str(log)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def wait(self) -> int:
        """Exit status of the last recording submitted (-9: killed by SIGKILL)."""
        return json.loads(self.process.stdout.readline())["code"]

    def run(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
        self.submit(argv, log, env)
        return self.wait()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def serve() -> None:
    # so101.recording.record imports `so101.sim` first, which picks MuJoCo's headless GL backend (LeRobot does not
    # import mujoco).
    import lerobot.datasets.lerobot_dataset  # noqa: F401

    import so101.recording.record
    import so101.teleop.sources  # noqa: F401
    from so101.cli import main

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = os.fdopen(2, "w", buffering=1)
            os.environ.update(request["env"])
            try:
                code = main(request["argv"])
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:  # the fork must never return into this loop
                import traceback

                traceback.print_exc()
                code = 99
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
