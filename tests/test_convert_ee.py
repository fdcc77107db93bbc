"""``so101 convert-ee``: a recorded dataset converts into a first-class LeRobot dataset that proves itself; foreign,
damaged and interrupted conversions fail in one line and leave nothing behind (recording/convert_ee*.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mujoco
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from so101.kinematics.batch_fk import ChainFK
from so101.kinematics.ee_features import EELayout
from so101.kinematics.units import JointLimits, dataset_to_radians, radians_to_dataset
from so101.recording.content_hashes import write_all
from so101.recording.convert_ee import REPORT_FILE, main
from so101.sim.paths import ROBOT_XML


def convert_cli(src: Path, dst: Path, *flags: str) -> int:
    return main([f"--src.root={src}", f"--dst.root={dst}", "--dst.repo_id=test/ee", *flags])


@pytest.fixture(scope="module")
def converted(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("ee") / "tiny_ee"
    assert convert_cli(tiny_dataset, dst) == 0
    return dst


def frames(root: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((root / "data").glob("chunk-*/file-*.parquet"))])


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_a_recorded_dataset_converts_into_a_lerobot_dataset(tiny_dataset: Path, converted: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("test/ee", root=converted)
    layout = EELayout()
    assert dataset.meta.features["action"]["names"] == list(layout.names)
    assert dataset.meta.features["joints.action"]["names"][0] == "shoulder_pan.pos"
    assert dataset.meta.features["observation.state"]["shape"] == (6,)  # not converted without --state
    assert dataset.num_episodes == 4 and dataset.num_frames == 160
    item = dataset[7]
    assert item["action"].shape == (7,) and item["joints.action"].shape == (6,)
    assert item["observation.images.wrist_cam"].shape == (3, 96, 128)
    # The EE action is the FK of the kept joints, to float32 rounding.
    model = mujoco.MjModel.from_xml_path(str(ROBOT_XML))
    data = frames(converted)
    joints = np.stack(data["joints.action"].to_numpy())
    pose = ChainFK(model).batch(dataset_to_radians(joints, JointLimits.from_model(model)))
    ee = np.stack(data["action"].to_numpy())
    np.testing.assert_allclose(ee[:, :3], pose.position, atol=1e-6)
    np.testing.assert_allclose(ee[:, 6], joints[:, 5])
    # The source's joints are kept exactly.
    np.testing.assert_array_equal(joints, np.stack(frames(tiny_dataset)["action"].to_numpy()))
    # Statistics for every feature, global and per episode.
    stats = json.loads((converted / "meta" / "stats.json").read_text())
    for key in ("action", "joints.action", "observation.state"):
        assert len(stats[key]["mean"]) == len(dataset.meta.features[key]["names"]), key
    np.testing.assert_allclose(stats["action"]["max"], ee.max(axis=0), rtol=1e-6)
    episodes = pd.read_parquet(next((converted / "meta" / "episodes").glob("*/*.parquet")))
    assert len(episodes["stats/action/mean"].iloc[0]) == 7 and len(episodes["stats/joints.action/mean"].iloc[0]) == 6
    # Videos byte for byte, tasks and the workbench's scenes carried over.
    for video in tiny_dataset.glob("videos/**/*.mp4"):
        assert (converted / video.relative_to(tiny_dataset)).read_bytes() == video.read_bytes()
    for name in ("meta/tasks.parquet", "meta/so101/episodes.jsonl", "meta/so101/recording.json"):
        assert (converted / name).read_bytes() == (tiny_dataset / name).read_bytes(), name
    # The verification report: every frame solved back, no failures.
    report = json.loads((converted / REPORT_FILE).read_text())
    assert report["layout"]["tcp"] == "gripperframe" and report["units"] == "degrees"
    verification = report["verification"]
    assert verification["frames"] == 160 and verification["ik_failures"] == 0
    assert verification["position_error_mm"]["max"] < 0.011 and verification["joint_error_deg"]["p99"] < 0.1


def test_state_in_6d(tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    dst = tmp_path / "six"
    assert convert_cli(tiny_dataset, dst, "--state", "--rotation=6d") == 0
    info = json.loads((dst / "meta" / "info.json").read_text())
    assert info["features"]["observation.state"]["shape"] == [10]
    assert info["features"]["joints.observation.state"]["shape"] == [6]
    assert "IK failures        0 of 160" in capsys.readouterr().out


def test_a_frame_the_ik_cannot_solve_back_is_reported_by_episode_and_frame(
    tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    # An action beyond the model's elbow limit (as a miscalibrated arm records): its pose is the FK's, but no
    # joints within the limits reach it.
    src = tmp_path / "beyond"
    shutil.copytree(tiny_dataset, src)
    path = next((src / "data").glob("*/*.parquet"))
    table = pq.read_table(path)
    data = table.to_pandas()
    row = int(np.flatnonzero((data["episode_index"] == 2) & (data["frame_index"] == 30))[0])
    action = data.at[row, "action"].copy()
    action[2] = 150.0
    data.at[row, "action"] = action
    pq.write_table(pa.Table.from_pandas(data, schema=table.schema, preserve_index=False), path)
    write_all(src)  # as recorded so: the digests are the edited file's
    assert convert_cli(src, tmp_path / "out") == 0
    assert "ep 2 frame 30" in capsys.readouterr().out
    verification = json.loads((tmp_path / "out" / REPORT_FILE).read_text())["verification"]
    assert verification["ik_failures"] >= 1
    assert {"episode_index": 2, "frame_index": 30} in verification["failed_frames"]


def to_foreign_units(src: Path, dst: Path) -> None:
    """``src`` rewritten as a stock dataset of LeRobot < 0.2: joints in -100..100, ``main_*`` names, no meta/so101."""
    shutil.copytree(src, dst)
    shutil.rmtree(dst / "meta" / "so101")
    limits = JointLimits.from_model(mujoco.MjModel.from_xml_path(str(ROBOT_XML)))
    for path in (dst / "data").glob("*/*.parquet"):
        table = pq.read_table(path)
        data = table.to_pandas()
        for key in ("action", "observation.state"):
            degrees = np.stack(data[key].to_numpy()).astype(np.float64)
            ranged = radians_to_dataset(dataset_to_radians(degrees, limits), limits, "range_m100_100")
            data[key] = list(ranged.astype(np.float32))
        pq.write_table(pa.Table.from_pandas(data, schema=table.schema, preserve_index=False), path)
    info = json.loads((dst / "meta" / "info.json").read_text())
    for key in ("action", "observation.state"):
        info["features"][key]["names"] = [f"main_{n.removesuffix('.pos')}" for n in info["features"][key]["names"]]
    (dst / "meta" / "info.json").write_text(json.dumps(info))


def test_the_older_minus_100_100_convention_gives_the_same_poses(
    tiny_dataset: Path, converted: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "old"
    to_foreign_units(tiny_dataset, foreign)
    assert convert_cli(foreign, tmp_path / "old_ee") == 0
    report = json.loads((tmp_path / "old_ee" / REPORT_FILE).read_text())
    assert report["units"] == "range_m100_100" and report["verification"]["ik_failures"] == 0
    again = np.stack(frames(tmp_path / "old_ee")["action"].to_numpy())
    np.testing.assert_allclose(again, np.stack(frames(converted)["action"].to_numpy()), atol=2e-4)


def test_foreign_damaged_and_existing_are_one_line_errors_leaving_nothing(
    tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    foreign = tmp_path / "foreign"
    shutil.copytree(tiny_dataset, foreign)
    info = json.loads((foreign / "meta" / "info.json").read_text())
    info["features"]["action"]["names"] = ["j1", "j2", "j3", "j4", "j5", "j6"]
    (foreign / "meta" / "info.json").write_text(json.dumps(info))
    assert convert_cli(foreign, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "not an SO-101's joints" in err and "shoulder_pan.pos" in err and len(err.strip().splitlines()) == 1

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_dataset, damaged)
    data_file = next((damaged / "data").glob("*/*.parquet"))
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    assert convert_cli(damaged, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "truncated or not a parquet file" in err and "so101 dataset repair" in err
    assert len(err.strip().splitlines()) == 1

    assert convert_cli(tiny_dataset, damaged) == 2
    assert "exists" in capsys.readouterr().err
    assert convert_cli(tiny_dataset, tmp_path / "out", "--tcp=nowhere") == 2
    assert "--tcp nowhere" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_an_interrupted_conversion_leaves_no_destination(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from so101.kinematics.ee_convert import EEVerifier

    calls = []

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return verify(self, *args)

    verify = EEVerifier.verify
    monkeypatch.setattr(EEVerifier, "verify", interrupted)
    assert convert_cli(tiny_dataset, tmp_path / "out") == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_a_state_that_is_not_joints_is_left_alone(tiny_dataset: Path, tmp_path: Path) -> None:
    # Only the action is converted; the verification then starts each episode from its first action.
    src = tmp_path / "state"
    shutil.copytree(tiny_dataset, src)
    info = json.loads((src / "meta" / "info.json").read_text())
    info["features"]["observation.state"]["names"] = [f"sensor_{i}" for i in range(6)]
    (src / "meta" / "info.json").write_text(json.dumps(info))
    assert convert_cli(src, tmp_path / "out") == 0
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert report["verification"]["ik_failures"] == 0
    out = json.loads((tmp_path / "out" / "meta" / "info.json").read_text())["features"]
    assert out["observation.state"]["names"][0] == "sensor_0" and "joints.observation.state" not in out


def test_a_converted_dataset_validates_as_its_recording_did(converted: Path) -> None:
    from so101.recording.dataset_tools import validate

    # Features compared with the recording's through the kept joints; states re-simulated from the joint targets.
    assert validate(converted, "test/ee") == []


def test_units_that_contradict_the_recording_are_refused_and_validate_finds_such_a_conversion(
    tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    from so101.recording.dataset_tools import validate

    # The workbench recorded degrees (meta/so101/recording.json): -100..100 is refused, naming the fix.
    assert convert_cli(tiny_dataset, tmp_path / "wrong", "--units=range_m100_100") == 2
    err = capsys.readouterr().err
    assert "--units range_m100_100 contradicts" in err and "give --units degrees" in err
    assert not (tmp_path / "wrong").exists()
    # What convert-ee wrote before it refused: the degrees converted as -100..100, the metadata carried over.
    bare = tmp_path / "bare"
    shutil.copytree(tiny_dataset, bare)
    (bare / "meta" / "so101" / "recording.json").unlink()
    assert convert_cli(bare, tmp_path / "wrong", "--units=range_m100_100") == 0
    shutil.copy(tiny_dataset / "meta" / "so101" / "recording.json", tmp_path / "wrong" / "meta" / "so101")
    problems = validate(tmp_path / "wrong", "test/ee", resimulate=False)
    assert len(problems) == 1 and "action: episodes [0, 1, 2, 3] are not the forward kinematics" in problems[0]
    assert "in degrees" in problems[0] and "without --units" in problems[0]


def test_the_report_names_the_real_repo_ids(converted: Path) -> None:
    report = json.loads((converted / REPORT_FILE).read_text())
    assert report["source"]["repo_id"] == "test/so101_scripted" and report["repo_id"] == "test/ee"
