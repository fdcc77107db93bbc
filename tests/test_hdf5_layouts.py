"""Reading HDF5 episodes: layouts found, LeIsaac's fields mapped, bad files refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from so101.errors import So101Error
from so101.kinematics.units import JointLimits
from so101.recording.hdf5_layouts import (
    check_episode,
    episode_units,
    file_attribute,
    file_fps,
    find_episodes,
    input_files,
    to_dataset_units,
)


def write_act(path: Path, frames: int = 5, joints: int = 6, action_frames: int | None = None, **attrs: object) -> Path:
    with h5py.File(path, "w") as file:
        file.attrs.update(attrs)
        file.create_dataset("observations/qpos", data=np.zeros((frames, joints), np.float32))
        file.create_dataset("action", data=np.zeros((action_frames or frames, joints), np.float32))
        file.create_dataset("observations/images/overhead_cam", data=np.zeros((frames, 16, 20, 3), np.uint8))
    return path


def write_leisaac(path: Path, frames: int = 5) -> Path:
    with h5py.File(path, "w") as file:
        for demo, success in (("demo_0", True), ("demo_1", False), ("demo_10", True), ("demo_2", True)):
            group = file.create_group(f"data/{demo}")
            group.attrs["success"] = success
            group.create_dataset("actions", data=np.zeros((frames, 6), np.float32))
            group.create_dataset("obs/joint_pos", data=np.zeros((frames, 6), np.float32))
            group.create_dataset("obs/joint_vel", data=np.zeros((frames, 6), np.float32))
            group.create_dataset("obs/front", data=np.zeros((frames, 16, 20, 3), np.uint8))
            group.create_dataset("obs/wrist", data=np.zeros((frames, 16, 20, 3), np.uint8))
    return path


def test_an_act_file_is_one_episode_with_its_cameras_and_attributes(tmp_path: Path) -> None:
    (episode,) = find_episodes(write_act(tmp_path / "e.hdf5", units="degrees", fps=15), {})
    assert (episode.layout, episode.state_key, episode.action_key) == ("act", "observations/qpos", "action")
    assert episode.images == {"overhead_cam": "observations/images/overhead_cam"}
    assert check_episode(episode).frames == 5
    assert file_fps([episode], None) == 15 and file_fps([episode], 20) == 20
    assert file_attribute([episode], "task") is None
    assert episode_units(episode, "auto") == "degrees"


def test_files_must_agree_on_their_attributes(tmp_path: Path) -> None:
    episodes = [*find_episodes(write_act(tmp_path / "a.hdf5", fps=30.0), {}), *find_episodes(
        write_act(tmp_path / "b.hdf5", fps=15), {})]
    with pytest.raises(So101Error, match="disagree on their fps"):
        file_fps(episodes, None)
    assert file_fps(episodes[:1], None) == 30 and file_fps(episodes, 10) == 10
    (bad,) = find_episodes(write_act(tmp_path / "c.hdf5", fps="fast"), {})
    with pytest.raises(So101Error, match="--fps"):
        file_fps([bad], None)


def test_leisaac_demos_map_in_natural_order_skipping_failed_ones(tmp_path: Path) -> None:
    episodes = find_episodes(write_leisaac(tmp_path / "dataset.hdf5"), {})
    assert [e.group for e in episodes] == ["/data/demo_0", "/data/demo_2", "/data/demo_10"]
    assert episodes[0].images == {"front_cam": "data/demo_0/obs/front", "wrist_cam": "data/demo_0/obs/wrist"}
    assert episodes[0].state_key == "data/demo_0/obs/joint_pos" and episodes[0].action_key == "data/demo_0/actions"
    assert episode_units(episodes[0], "auto") == "radians"
    renamed = find_episodes(tmp_path / "dataset.hdf5", {"front": "overhead_cam"})
    assert set(renamed[0].images) == {"overhead_cam", "wrist_cam"}


def test_folders_are_read_in_natural_order(tmp_path: Path) -> None:
    for index in (10, 2, 1):
        write_act(tmp_path / f"episode_{index}.hdf5")
    names = [path.name for path in input_files(str(tmp_path))]
    assert names == ["episode_1.hdf5", "episode_2.hdf5", "episode_10.hdf5"]
    assert input_files(f"[{tmp_path / 'episode_2.hdf5'}, {tmp_path / 'episode_1.hdf5'}]")[0].name == "episode_2.hdf5"


def test_radians_and_old_range_convert_to_dataset_units() -> None:
    limits = JointLimits(np.full(6, -2.0), np.full(6, 2.0))
    radians = np.array([[np.pi / 2, 0, 0, 0, 0, 0.0]])
    np.testing.assert_allclose(to_dataset_units(radians, "radians", limits), [[90, 0, 0, 0, 0, 50]], atol=1e-4)
    old = np.array([[100.0, -100.0, 0, 0, 0, 25]])
    expected = [[np.rad2deg(2.0), np.rad2deg(-2.0), 0, 0, 0, 25]]
    np.testing.assert_allclose(to_dataset_units(old, "range_m100_100", limits), expected, atol=1e-3)


def _bad(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.hdf5"
    if case == "not_hdf5":
        path.write_text("qpos,action\n")
    elif case == "unknown_layout":
        with h5py.File(path, "w") as file:
            file.create_dataset("joints", data=np.zeros((3, 6)))
    elif case == "seven_joints":
        write_act(path, joints=7)
    elif case == "lengths":
        write_act(path, action_frames=4)
    elif case == "nan":
        write_act(path)
        with h5py.File(path, "a") as file:
            file["action"][2, 1] = np.nan
    elif case == "float_images":
        write_act(path)
        with h5py.File(path, "a") as file:
            del file["observations/images/overhead_cam"]
            file.create_dataset("observations/images/overhead_cam", data=np.zeros((5, 16, 20, 3), np.float32))
    elif case == "camera_name":
        with h5py.File(write_act(path), "a") as file:
            file["observations/images/cam_high"] = file["observations/images/overhead_cam"][()]
    return path


BAD_FILES = {
    "not_hdf5": "not an HDF5 file",
    "unknown_layout": "unknown layout",
    "seven_joints": "expected (frames, 6)",
    "lengths": "lengths differ",
    "nan": "NaN or inf (first at frame 2)",
    "float_images": "expected uint8",
    "camera_name": "--cameras",
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_refused_naming_the_file_and_problem(tmp_path: Path, case: str) -> None:
    path = _bad(tmp_path, case)
    with pytest.raises(So101Error) as error:
        for episode in find_episodes(path, {}):
            check_episode(episode)
    assert str(path) in str(error.value) and BAD_FILES[case] in str(error.value)


def test_files_without_units_need_the_flag(tmp_path: Path) -> None:
    (episode,) = find_episodes(write_act(tmp_path / "e.hdf5"), {})
    with pytest.raises(So101Error, match="--units"):
        episode_units(episode, "auto")
    assert episode_units(episode, "radians") == "radians"


def test_frames_padded_by_export_are_not_imported(tmp_path: Path) -> None:
    path = write_act(tmp_path / "episode_0.hdf5", frames=8, fps=30, units="degrees")
    with h5py.File(path, "a") as file:
        file.create_dataset("is_pad", data=np.arange(8) >= 5)
    assert check_episode(find_episodes(path, {})[0]).frames == 5
    with h5py.File(path, "a") as file:
        del file["is_pad"]
        file.create_dataset("is_pad", data=np.array([False, True] * 4))  # not padding at the end
    with pytest.raises(So101Error, match="is_pad is not 8 flags false then true"):
        check_episode(find_episodes(path, {})[0])
