"""The ``so101`` command: one subcommand per job, each in the module that owns the job.

Subcommand modules are imported only when their subcommand runs, so ``so101 --help`` stays fast and a missing
optional part only affects the subcommand that needs it.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module with main(argv) -> int, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "pipeline": ("training.pipeline", "the main job: record with the scripted expert, train ACT, evaluate, report"),
    "view": ("sim.view_cmd", "open the scene in a window: free camera, robot cameras, re-randomize"),
    "rollout": ("sim.rollout_cmd", "headless rollouts of randomized scenes, saved as camera images and a video"),
    "calibrate-leader": ("teleop.calibrate_leader", "calibrate a physical SO-101 leader arm (LeRobot's procedure)"),
    "teleop": ("teleop.teleop_cmd", "drive the sim from a leader arm in real time; --check to set the overrides"),
    "record": ("recording.record", "record episodes into a LeRobot dataset (scripted expert, keyboard, leader arm)"),
    "replay": ("recording.replay", "re-simulate recorded episodes from their scenes and actions"),
    "dataset": ("recording.dataset_tools", "inspect, validate and merge recorded datasets: dataset {info,validate,merge}"),
    "train": ("training.train", "train ACT on a dataset, evaluating success in the sim as it learns"),
    "eval": ("inference.evaluate", "evaluate a checkpoint or every checkpoint of a run in the sim"),
    "bench": ("", "measure speed and quality (see benchmarks below)"),
}

BENCHMARKS: dict[str, tuple[str, str]] = {
    "sim": ("sim.benchmark", "physics and environment steps/s, both render profiles"),
    "ik": ("kinematics.benchmark", "IK success, accuracy and time per solve, side by side with mink"),
    "expert": ("teleop.expert_benchmark", "scripted expert: success and phase rates over random scenes"),
    "record": ("recording.benchmark", "scripted recording speed against real time, two 640x480 cameras"),
    "leader": ("teleop.leader_benchmark", "leader arm over the emulator: servo move to sim target, loop rate"),
    "train": ("training.benchmark", "frame-cache size and the data-loading share of a training step"),
    "eval": ("inference.benchmark", "evaluation episodes per minute and milliseconds per policy call"),
}


def _usage() -> str:
    lines = ["usage: so101 <command> [options]   (so101 <command> --help for its options)", "", "commands:"]
    for name, (_module, description) in COMMANDS.items():
        lines.append(f"  {name:<18} {description}")
    lines += ["", "benchmarks:"]
    lines += [f"  bench {name:<12} {description}" for name, (_module, description) in BENCHMARKS.items()]
    return "\n".join(lines)


def _run(module_name: str, argv: list[str]) -> int:
    module = importlib.import_module(module_name)
    return int(module.main(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command == "bench":
        if not rest or rest[0] not in BENCHMARKS:
            print(f"so101 bench: choose one of {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        return _run(BENCHMARKS[rest[0]][0], rest[1:])
    if command not in COMMANDS:
        print(f"so101: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return _run(COMMANDS[command][0], rest)


if __name__ == "__main__":
    sys.exit(main())
