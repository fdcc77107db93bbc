"""What convert-ee reads from a source dataset: SO-101 joint names and their unit convention
(recording/convert_ee_source.py)."""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import pytest

from so101.errors import So101Error
from so101.kinematics.units import JOINT_FEATURE_NAMES, JointLimits
from so101.recording.convert_ee_source import check_units, detect_units, joint_feature, metadata_units
from so101.sim.paths import ROBOT_XML

LIMITS = JointLimits.from_model(mujoco.MjModel.from_xml_path(str(ROBOT_XML)))


def info_with(names: list[str]) -> dict:
    return {"features": {"action": {"dtype": "float32", "shape": [6], "names": names}}}


def test_joint_names_in_every_known_spelling_and_others_refused(tmp_path: Path) -> None:
    bare = [n.removesuffix(".pos") for n in JOINT_FEATURE_NAMES]
    for names in (list(JOINT_FEATURE_NAMES), bare, [f"main_{n}" for n in bare], {"motors": list(JOINT_FEATURE_NAMES)}):
        joint_feature(info_with(names), "action", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(So101Error, match="not an SO-101's joints"):
        joint_feature(info_with(list(reversed(JOINT_FEATURE_NAMES))), "action", tmp_path)
    with pytest.raises(So101Error, match="already in end-effector space"):
        joint_feature(info_with(["ee.x"] * 6), "action", tmp_path)
    with pytest.raises(So101Error, match=r"has no 'observation\.state'"):
        joint_feature(info_with(list(JOINT_FEATURE_NAMES)), "observation.state", tmp_path)


def with_ranges(root: Path, low: list[float], high: list[float]) -> Path:
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "stats.json").write_text(json.dumps({"action": {"min": low, "max": high}}))
    return root


@pytest.mark.parametrize(
    ("low", "high", "units", "reason"),
    [
        # wrist_roll at 150 degrees: beyond +-100, within its limits, so degrees
        ([-20, -90, -80, -60, -130, 0], [105, 90, 80, 60, 150, 100], "degrees", "beyond +-100"),
        # wrist_flex at 99: beyond its 95 degree limit in degrees (+2 of margin), within -100..100
        ([-99, -99, -90, -90, -99, 0], [99, 99, 90, 99, 99, 100], "range_m100_100", "beyond the joint limits"),
        # both fit: LeRobot 0.4's default
        ([-20, -40, -30, -20, -50, 0], [20, 40, 30, 20, 50, 100], "degrees", "use_degrees=True"),
    ],
)
def test_units_from_the_value_ranges(tmp_path: Path, low, high, units: str, reason: str) -> None:
    root = with_ranges(tmp_path, low, high)
    decision = detect_units(root, info_with(list(JOINT_FEATURE_NAMES)), ["action"], LIMITS)
    assert decision.units == units and reason in decision.reason


def test_units_from_metadata_and_the_impossible(tmp_path: Path) -> None:
    old_names = [f"main_{n.removesuffix('.pos')}" for n in JOINT_FEATURE_NAMES]
    assert detect_units(tmp_path, info_with(old_names), ["action"], LIMITS).units == "range_m100_100"
    root = with_ranges(tmp_path / "far", [-500] * 6, [500] * 6)
    with pytest.raises(So101Error, match="fit neither"):
        detect_units(root, info_with(list(JOINT_FEATURE_NAMES)), ["action"], LIMITS)
    with pytest.raises(So101Error, match="--units"):
        detect_units(tmp_path / "none", info_with(list(JOINT_FEATURE_NAMES)), ["action"], LIMITS)


def with_sessions(root: Path, *sessions: dict) -> Path:
    (root / "meta" / "so101").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "so101" / "recording.json").write_text(json.dumps({"format": 1, "sessions": list(sessions)}))
    return root


def test_the_metadata_decides_the_units_and_a_contradicting_units_is_refused(tmp_path: Path) -> None:
    recorded = with_sessions(tmp_path / "rec", {"source": "scripted"}, {"source": "import-hdf5"})
    # Value ranges that only fit -100..100 do not outvote what the recorder wrote.
    with_ranges(recorded, [-99, -99, -90, -90, -99, 0], [99, 99, 90, 99, 99, 100])
    assert detect_units(recorded, info_with(list(JOINT_FEATURE_NAMES)), ["action"], LIMITS).units == "degrees"
    check_units(recorded, "degrees")
    with pytest.raises(So101Error, match=r"--units range_m100_100 contradicts.*in degrees.*give --units degrees"):
        check_units(recorded, "range_m100_100")
    deployed = with_sessions(tmp_path / "dep", {"source": "deploy", "robot": {"use_degrees": False}})
    assert metadata_units(deployed).units == "range_m100_100"  # type: ignore[union-attr]
    with pytest.raises(So101Error, match="--units degrees contradicts"):
        check_units(deployed, "degrees")
    assert metadata_units(tmp_path / "none") is None
    check_units(tmp_path / "none", "range_m100_100")  # no metadata: --units is the only word on it
    mixed = with_sessions(tmp_path / "mixed", {"source": "scripted"},
                          {"source": "deploy", "robot": {"use_degrees": False}})
    with pytest.raises(So101Error, match=r"both degrees and -100\.\.100"):
        metadata_units(mixed)
