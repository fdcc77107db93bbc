"""The ``so101`` command: one table of subcommands, each implemented by the module that owns the job.

A leaf of the table names ``module:function``; the function takes the remaining arguments and returns the exit
status, and parses them through ``so101.command.run_command``. ``bench`` and ``dataset`` are groups of leaves in the
same table. Modules are imported only when their subcommand runs, so ``so101 --help`` stays fast and a missing
optional part only affects the subcommand that needs it.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from so101.command import EXIT_USAGE


@dataclass(frozen=True)
class Command:
    target: str
    """``module:function`` taking ``argv`` (the arguments after the subcommand) and returning the exit status."""
    description: str


Table = dict[str, "Command | dict[str, Command]"]

COMMANDS: Table = {
    "pipeline": Command("so101.training.pipeline:main", "the main job: record with the scripted expert, train ACT, evaluate"),
    "view": Command("so101.sim.view_cmd:main", "open the scene in a window: free camera, robot cameras, re-randomize"),
    "rollout": Command("so101.sim.rollout_cmd:main", "headless rollouts of random scenes, saved as images and a video"),
    "calibrate-leader": Command("so101.teleop.calibrate_leader:main", "calibrate a physical SO-101 leader arm"),
    "emulate": Command("so101.teleop.emulate_cmd:main", "an emulated leader or follower arm, for trying teleop or deploy"),
    "teleop": Command("so101.teleop.teleop_cmd:main", "drive the sim from a leader arm in real time; --check for overrides"),
    "record": Command("so101.recording.record:main", "record LeRobot episodes (scripted, keyboard, leader, VR)"),
    "vr": Command("so101.teleop.vr.vr_cmd:main", "check the OpenXR runtime and headset (--check), or practise in VR"),
    "replay": Command("so101.recording.replay:main", "re-simulate recorded episodes from their scenes and actions"),
    "dataset": {
        "info": Command("so101.recording.dataset_tools:info_main", "episodes, frames, features, cameras, scenes"),
        "validate": Command("so101.recording.dataset_tools:validate_main", "check a dataset, re-simulating its episodes"),
        "export-hdf5": Command("so101.recording.hdf5_export:main", "episodes as HDF5 files in the ACT/ALOHA layout"),
        "import-hdf5": Command("so101.recording.hdf5_import:main", "ACT/ALOHA or LeIsaac HDF5 files into a new dataset"),
        "merge": Command("so101.recording.dataset_merge:main", "merge datasets into a new one"),
        "delete-episodes": Command("so101.recording.dataset_edit:main", "remove episodes (LeRobot's tool), scenes in step"),
        "repair": Command("so101.recording.repair:main", "rebuild a broken dataset from its provably complete episodes"),
        "restore-scenes": Command("so101.recording.scene_restore:main", "the scenes lerobot-edit-dataset leaves out"),
    },
    "convert-ee": Command("so101.recording.convert_ee:main", "convert a joint-space dataset to end-effector space, verified"),
    "pretrain-encoder": Command("so101.training.encoder_pretraining:main", "teach ACT's image backbone where the brick and bowl are (sim)"),
    "train": Command("so101.training.train:main", "train ACT on a dataset, evaluating success in the sim as it learns"),
    "eval": Command("so101.inference.evaluate_cmd:main", "evaluate a checkpoint or every checkpoint of a run in the sim"),
    "diagnose": Command("so101.inference.diagnose:main", "compare training data with deployment/eval recordings: report"),
    "deploy": Command("so101.inference.deploy:main", "run a policy on the real follower: preflight, safety layer, recording"),
    "bench": {
        "sim": Command("so101.sim.benchmark:main", "physics and environment steps/s, both render profiles"),
        "ik": Command("so101.kinematics.benchmark:main", "IK success, accuracy and time per solve, beside mink"),
        "convert": Command("so101.kinematics.convert_benchmark:main", "joint -> EE conversion frames/s, with verification"),
        "expert": Command("so101.teleop.expert_benchmark:main", "scripted expert: success and phase rates"),
        "record": Command("so101.recording.benchmark:main", "scripted recording speed against real time"),
        "leader": Command("so101.teleop.leader_benchmark:main", "leader arm over the emulator: latency and loop rate"),
        "train": Command("so101.training.benchmark:main", "frame-cache size and the data-loading share of a step"),
        "eval": Command("so101.inference.benchmark:main", "evaluation episodes per minute and ms per policy call"),
        "vr": Command("so101.teleop.vr.benchmark:main", "VR: ms per stereo frame, frame rate, pose-to-target latency, jumps"),
        "deploy": Command("so101.inference.deploy_benchmark:main", "deployment loop on the follower rig: latency, 30 Hz"),
    },
}


def usage(table: Table = COMMANDS, prefix: str = "") -> str:
    lines = [f"usage: so101 {prefix}<command> [options]   (so101 {prefix}<command> --help for its options)", ""]
    for name, entry in table.items():
        if isinstance(entry, Command):
            lines.append(f"  {prefix}{name:<18} {entry.description}")
        else:
            lines.append(f"  {prefix}{name:<18} {' | '.join(entry)}")
    for name, entry in table.items():
        if isinstance(entry, dict):
            lines += ["", f"{name}:"]
            lines += [f"  {name} {sub:<16} {leaf.description}" for sub, leaf in entry.items()]
    return "\n".join(lines)


def resolve(target: str):
    module_name, _, function = target.partition(":")
    return getattr(importlib.import_module(module_name), function)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``so101 <command> [<subcommand>] [options]``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    table, path = COMMANDS, ""
    while True:
        if not argv or argv[0] in ("-h", "--help", "help"):
            print(usage(table, path))
            return 0
        name, argv = argv[0], argv[1:]
        entry = table.get(name)
        if entry is None:
            choices = ", ".join(table)
            print(f"so101: unknown command '{path}{name}'; choose one of {choices}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(entry, Command):
            return int(resolve(entry.target)(argv) or 0)
        table, path = entry, f"{path}{name} "


if __name__ == "__main__":
    sys.exit(main())
