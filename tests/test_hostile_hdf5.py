"""Hostile HDF5 files given to ``so101 dataset import-hdf5``: lazily huge datasets, links that cannot be followed,
nodes of the wrong kind. Each must stop the import with one line naming the file and the problem (exit 2, never a
traceback, nothing read into memory beyond the limits), write no dataset, and leave the file as it was. Actions that
import but look wrong (integers, values beyond the joints' ranges: scaled, or in other units) give one warning
line; the import goes on (exit 0), as documented in docs/datasets.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_hostile_inputs import _refused, _snapshot

from so101.recording.hdf5_import import main as import_hdf5

FRAMES = 4


def act_file(path: Path, change: Callable[[h5py.File], None] | None = None, action: np.ndarray | None = None) -> None:
    """A sound one-episode ACT/ALOHA file in degrees, then ``change`` applied to it."""
    with h5py.File(path, "w") as file:
        file.attrs.update({"units": "degrees", "task": "Pick the brick"})
        file.create_dataset("observations/qpos", data=np.zeros((FRAMES, 6), np.float32))
        file.create_dataset("action", data=np.zeros((FRAMES, 6), np.float32) if action is None else action)
        file.create_dataset("observations/images/overhead_cam", data=np.zeros((FRAMES, 16, 20, 3), np.uint8))
        if change is not None:
            change(file)


def replace(name: str, make: Callable[[h5py.File], object]) -> Callable[[h5py.File], None]:
    def apply(file: h5py.File) -> None:
        del file[name]
        value = make(file)
        if value is not None:
            file[name] = value

    return apply


def leisaac_file(path: Path, change: Callable[[h5py.File], None]) -> None:
    with h5py.File(path, "w") as file:
        demo = file.create_group("data/demo_0")
        demo.create_dataset("obs/joint_pos", data=np.zeros((FRAMES, 6), np.float32))
        demo.create_dataset("actions", data=np.zeros((FRAMES, 6), np.float32))
        demo.create_dataset("obs/front", data=np.zeros((FRAMES, 16, 20, 3), np.uint8))
        change(file)


def loop(file: h5py.File, name: str) -> None:
    """Two soft links at ``name`` and at the file's root that point at each other."""
    partner = "/" + name.replace("/", "_") + "_loop"
    file[name] = h5py.SoftLink(partner)
    file[partner] = h5py.SoftLink(f"/{name}")


# case: (how the file is made from a sound one, a word of the problem)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a lazily huge (2**40, 6) qpos": (
        lambda p: act_file(p, replace("observations/qpos", lambda f: f.create_dataset("q", shape=(2**40, 6),
                                                                                      dtype="f4"))),
        "1099511627776 frames"),
    "a lazily huge action": (
        lambda p: act_file(p, replace("action", lambda f: f.create_dataset("a", shape=(2**40, 6), dtype="f8"))),
        "48 TiB"),
    "images of 100000 x 100000 pixels": (
        lambda p: act_file(p, replace("observations/images/overhead_cam", lambda f: f.create_dataset(
            "i", shape=(FRAMES, 100_000, 100_000, 3), dtype="u1"))),
        "100000x100000"),
    "/observations/images a dataset": (
        lambda p: act_file(p, replace("observations/images", lambda f: np.zeros((FRAMES, 16, 20, 3), np.uint8))),
        "is a dataset, expected a group"),
    "a soft-link loop for qpos": (
        lambda p: act_file(p, replace("observations/qpos", lambda f: loop(f, "observations/qpos"))),
        "cannot be followed"),
    "a soft-link loop for a camera": (
        lambda p: act_file(p, replace("observations/images/overhead_cam",
                                      lambda f: loop(f, "observations/images/overhead_cam"))),
        "cannot be followed"),
    "a soft link to nothing for the action": (
        lambda p: act_file(p, replace("action", lambda f: h5py.SoftLink("/missing"))), "cannot be followed"),
    "an external link for qpos": (
        lambda p: act_file(p, replace("observations/qpos", lambda f: h5py.ExternalLink("other.hdf5", "/qpos"))),
        "external link to other.hdf5"),
    "an external link for a camera": (
        lambda p: act_file(p, replace("observations/images/overhead_cam",
                                      lambda f: h5py.ExternalLink("/etc/passwd", "/x"))),
        "external link"),
    "actions that are text": (
        lambda p: act_file(p, replace("action", lambda f: np.array([["a"] * 6] * FRAMES, dtype="S1"))),
        "not numbers"),
    "a LeIsaac demo that is a soft-link loop": (
        lambda p: leisaac_file(p, lambda f: (f.move("data/demo_0", "data/real"), loop(f, "data/demo_0"),
                                             f.__delitem__("data/real"))),
        "cannot be followed"),
    "a LeIsaac obs group that is a dataset": (
        lambda p: leisaac_file(p, lambda f: (f.__delitem__("data/demo_0/obs"),
                                             f.create_dataset("data/demo_0/obs", data=np.zeros((FRAMES, 6))))),
        "unknown layout"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_hdf5_file_is_refused_before_it_is_read(case: str, tmp_path: Path, capsys) -> None:
    make, problem = CASES[case]
    user = tmp_path / "user"
    user.mkdir()
    path = user / "episode_0.hdf5"
    make(path)
    out = tmp_path / "out"
    err = _refused(import_hdf5, ["--input", str(path), "--dataset.root", str(out)], user, capsys, str(path))
    assert problem in err, err
    assert not out.exists()


SCALED = np.tile(np.array([10_000, -45_000, 60_000, 20_000, -90_000, 50_000], np.int64), (FRAMES, 1))
"""Degrees x1000, stored as integers (a millidegree encoder's raw counts)."""

WARNINGS = {
    "int64 actions scaled x1000": ({"action": SCALED}, ["int64 integers", "-9e+04..6e+04", "--units"]),
    "degrees in a file that says radians": (
        {"action": np.full((FRAMES, 6), 45.0, np.float32)}, ["beyond the SO-101's joint ranges", "as radians"]),
}


@pytest.mark.parametrize("case", list(WARNINGS))
def test_actions_that_look_scaled_or_in_other_units_are_named_in_one_warning(case: str, tmp_path: Path,
                                                                             capsys) -> None:  # fmt: skip
    arguments, words = WARNINGS[case]
    user = tmp_path / "user"
    user.mkdir()
    path = user / "episode_0.hdf5"
    act_file(path, **arguments)
    if "radians" in case:
        with h5py.File(path, "a") as file:
            file.attrs["units"] = "radians"
    before = _snapshot(user)
    out = tmp_path / "out"
    import_hdf5(["--input", str(path), "--dataset.root", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and all(word in err for word in words), err
    assert _snapshot(user) == before


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) + len(WARNINGS) >= 14
