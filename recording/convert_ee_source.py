"""What ``so101 convert-ee`` reads from a joint-space dataset before converting: its joint features, their unit
convention, and the robot model to compute the kinematics on.

Joint names: LeRobot's SO-101 names (``shoulder_pan.pos`` .. ``gripper.pos``), also without ``.pos`` or with the
``main_`` prefix of datasets from LeRobot < 0.2. Anything else is refused with the names found and expected.

Units (``--units auto``): the body joints are in degrees (``so101_new_calib``; LeRobot 0.4's SO-101 follower
default, ``use_degrees=True``) or in the older ``range_m100_100`` normalisation. ``auto`` decides from, in order:
the workbench's metadata (``meta/so101/recording.json``: recordings and imports are in degrees, a deployment in
what its ``--robot.use_degrees`` said), the ``main_`` names (LeRobot < 0.2:
``range_m100_100``), then the value ranges in ``meta/stats.json``: values beyond +-100 cannot be ``range_m100_100``,
values beyond the model's joint limits (by more than 2 degrees) cannot be degrees. When the ranges allow both,
degrees, as LeRobot 0.4 records, and the report says so. ``--units`` overrides the ranges, never the metadata:
the metadata was written by the command that recorded the joints, from the robot's own setting, so a ``--units``
that contradicts it is a mistake (converting anyway writes poses of another arm) and is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from so101.errors import DatasetError
from so101.kinematics.units import GRIPPER_INDEX, JOINT_NAMES, JointLimits, Normalization
from so101.recording.scene_metadata import RECORDING_FILE

LIMIT_MARGIN_DEG = 2.0
"""Recorded joints may overshoot the model's limits by calibration differences; more than this is not degrees. The
SO-101's wrist flex and elbow limits lie within 3 to 5 degrees of 100, so a larger margin would never tell a
-100..100 dataset by its ranges."""


def joint_feature(info: dict[str, Any], key: str, root: Path) -> list[str]:
    """The names of feature ``key``, checked to be the six SO-101 joints in LeRobot's order.

    Raises:
        DatasetError: the feature is missing, already in end-effector space, or not an SO-101's joints.
    """
    feature = info.get("features", {}).get(key)
    if feature is None:
        raise DatasetError(f"{root} has no {key!r} feature; convert-ee needs a joint-space SO-101 dataset")
    names = feature.get("names") or []
    if isinstance(names, dict):  # some ported datasets nest the names: {"motors": [...]}
        names = next(iter(names.values()), [])
    names = [str(name) for name in names]
    if any(name.startswith("ee.") for name in names):
        raise DatasetError(f"{root}: {key} is already in end-effector space ({', '.join(names)}); nothing to convert")
    if [_joint_name(name) for name in names] != list(JOINT_NAMES) or list(feature.get("shape", [])) != [6]:
        raise DatasetError(
            f"{root}: {key} has the features {names or feature.get('shape')}, not an SO-101's joints; convert-ee "
            f"needs {', '.join(f'{n}.pos' for n in JOINT_NAMES)} (LeRobot's SO-101 names) in that order"
        )
    return names


def _joint_name(name: str) -> str:
    return name.removeprefix("main_").removesuffix(".pos")


@dataclass(frozen=True)
class UnitsDecision:
    units: Normalization
    reason: str


def metadata_units(root: Path) -> UnitsDecision | None:
    """The unit convention the workbench's metadata gives for ``root``'s joints, or ``None`` without metadata.

    Raises:
        DatasetError: the sessions disagree (a dataset merged from recordings in both conventions).
    """
    path = root / RECORDING_FILE
    if not path.is_file():
        return None
    sessions = json.loads(path.read_text()).get("sessions", [])
    found = {_session_units(session) for session in sessions}
    if len(found) > 1:
        raise DatasetError(f"{path}: its sessions recorded joints in both degrees and -100..100; convert-ee needs one "
                           "convention. Split the dataset by session (so101 dataset delete-episodes) and convert each")
    units = found.pop() if found else "degrees"
    source = "so101 deploy with --robot.use_degrees false" if units == "range_m100_100" else "the workbench"
    return UnitsDecision(units, f"as recorded by {source} ({RECORDING_FILE})")


def _session_units(session: dict[str, Any]) -> Normalization:
    """A ``recording.json`` session's joint units: a deployment's follower setting, degrees for everything else
    (``so101 record`` writes degrees, ``import-hdf5`` converts into them)."""
    robot = session.get("robot") or {}
    return "range_m100_100" if session.get("source") == "deploy" and robot.get("use_degrees") is False else "degrees"


def check_units(root: Path, units: Normalization) -> None:
    """``--units`` checked against the metadata (see the module docstring).

    Raises:
        DatasetError: the metadata says the joints are in the other convention.
    """
    recorded = metadata_units(root)
    if recorded is not None and recorded.units != units:
        raise DatasetError(
            f"--units {units} contradicts {root}: its joints are in {recorded.units}, {recorded.reason}; "
            f"converting them as {units} would give the poses of another arm. Leave out "
            f"--units (auto reads the metadata) or give --units {recorded.units}",
            path=root,
        )


def detect_units(root: Path, info: dict[str, Any], keys: list[str], limits: JointLimits) -> UnitsDecision:
    """The unit convention of the joint features ``keys`` (see the module docstring)."""
    recorded = metadata_units(root)
    if recorded is not None:
        return recorded
    names = info["features"][keys[0]].get("names") or []
    if any(str(name).startswith("main_") for name in names):
        return UnitsDecision("range_m100_100", "LeRobot < 0.2 joint names (main_*)")
    stats_path = root / "meta" / "stats.json"
    if not stats_path.is_file():
        raise DatasetError(f"{root} has no meta/stats.json to tell the joint units by; give --units degrees or "
                         "--units range_m100_100")
    stats = json.loads(stats_path.read_text())
    try:
        low = np.min([np.asarray(stats[key]["min"], dtype=np.float64) for key in keys], axis=0)[:GRIPPER_INDEX]
        high = np.max([np.asarray(stats[key]["max"], dtype=np.float64) for key in keys], axis=0)[:GRIPPER_INDEX]
    except (KeyError, ValueError, TypeError) as error:
        raise DatasetError(f"{stats_path} has no usable min/max of {keys} ({error}); give --units") from error
    margin = np.deg2rad(LIMIT_MARGIN_DEG)
    fits_degrees = bool(
        np.all(np.deg2rad(low) >= limits.lower[:GRIPPER_INDEX] - margin)
        and np.all(np.deg2rad(high) <= limits.upper[:GRIPPER_INDEX] + margin)
    )
    fits_range = bool(np.all(low >= -100.0 - 1e-6) and np.all(high <= 100.0 + 1e-6))
    if fits_degrees and not fits_range:
        return UnitsDecision("degrees", "values beyond +-100")
    if fits_range and not fits_degrees:
        return UnitsDecision("range_m100_100", "values beyond the joint limits in degrees, within +-100")
    if fits_degrees:
        return UnitsDecision("degrees", "ranges fit both conventions: LeRobot 0.4's default (use_degrees=True)")
    raise DatasetError(
        f"{root}: joint values {low.round(1).tolist()} .. {high.round(1).tolist()} fit neither degrees within the "
        "SO-101's limits nor -100..100; is it an SO-101 dataset? Give --units to convert anyway"
    )


def model_path(root: Path, override: Path | None) -> Path:
    """The robot MJCF to compute the kinematics on: ``--model``, else the one the dataset was recorded with when it
    is here, else the workbench's own SO-101."""
    from so101.sim.paths import ROBOT_XML

    if override is not None:
        if not Path(override).is_file():
            raise FileNotFoundError(f"--model {override} does not exist; give the MJCF of the SO-101")
        return Path(override)
    recording = root / RECORDING_FILE
    if recording.is_file():
        sessions = json.loads(recording.read_text()).get("sessions", [])
        recorded = Path(sessions[0].get("scene", {}).get("robot_xml", "")) if sessions else None
        if recorded is not None and recorded.is_file():
            return recorded
    return Path(ROBOT_XML)
