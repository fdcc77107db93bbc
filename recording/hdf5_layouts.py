"""Reading HDF5 episodes for ``so101 dataset import-hdf5``: which layout a file has, where each episode's arrays
are, and whether they can be imported (links, node kinds, sizes, shapes, joint count, lengths, finite values: see
``so101.recording.hdf5_nodes``), before anything is written.

Layouts (see ``so101.recording.hdf5_import`` for how their fields map onto LeRobot's features):

* ACT / ALOHA: one episode per file, ``/observations/qpos``, ``/action``, ``/observations/images/<camera>``;
* LeIsaac: ``/data/demo_<i>/obs/joint_pos``, ``/data/demo_<i>/actions``, images as (T, H, W, 3) uint8 datasets of
  ``/data/demo_<i>/obs``; demos whose ``success`` attribute is false are skipped, as LeIsaac's converter does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from so101.errors import DatasetError
from so101.kinematics.units import JointLimits, dataset_to_radians, radians_to_dataset
from so101.recording.hdf5_nodes import check_size, node
from so101.sim.scene import ROBOT_CAMERA_NAMES

log = logging.getLogger(__name__)

LEISAAC_CAMERAS = {"front": "front_cam", "wrist": "wrist_cam"}
"""LeIsaac's camera names and the workbench cameras they become unless ``--cameras`` says otherwise."""


@dataclass
class EpisodeSource:
    """One episode inside an HDF5 file: where its arrays are and what the file says about them."""

    path: Path
    group: str
    """The episode's group inside the file (``/`` or ``/data/demo_3``)."""
    layout: str
    """``act`` or ``leisaac``."""
    state_key: str
    action_key: str
    images: dict[str, str]
    """Workbench camera name -> dataset path inside the file."""
    attrs: dict[str, object]
    """Root attributes of the file (``fps``, ``units``, ``task``)."""
    is_pad: str | None = None
    """The dataset marking frames added by ``export-hdf5 --pad_to`` (``/is_pad``), whose frames are not imported."""

    @property
    def name(self) -> str:
        return str(self.path) if self.group == "/" else f"{self.path}:{self.group}"


# ---------------------------------------------------------------------- finding episodes


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def input_files(spec: str) -> list[Path]:
    """The HDF5 files named by ``--input`` (files, or folders whose ``*.hdf5``/``*.h5`` files are taken)."""
    files: list[Path] = []
    for item in (part.strip() for part in spec.strip().strip("[]").split(",")):
        if not item:
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted([*path.glob("*.hdf5"), *path.glob("*.h5")], key=_natural_key)
            if not found:
                raise DatasetError(f"--input {path} holds no .hdf5 or .h5 file")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"--input {path} does not exist")
    return files


def find_episodes(path: Path, rename: dict[str, str]) -> list[EpisodeSource]:
    """The episodes of one HDF5 file, by its layout.

    Raises:
        DatasetError: the file is not HDF5, or holds neither layout.
    """
    import h5py

    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(f"--input {path} is not an HDF5 file ({error}); give files written by h5py") from error
    with file:
        attrs = {key: _plain(value) for key, value in file.attrs.items()}
        if "observations/qpos" in file and "action" in file:
            images = node(file, "observations/images", h5py.Group, str(path)) if "observations/images" in file else {}
            cameras = {_camera(path, name, rename, {}): f"observations/images/{name}" for name in images}
            is_pad = "is_pad" if "is_pad" in file else None
            return [EpisodeSource(path, "/", "act", "observations/qpos", "action", cameras, attrs, is_pad)]
        if "data" in file and isinstance(node(file, "data", object, str(path)), h5py.Group):
            episodes = []
            for demo in sorted(file["data"], key=lambda name: _natural_key(Path(name))):
                link = file["data"].get(demo, getlink=True)
                if isinstance(link, h5py.HardLink) and not isinstance(file["data"][demo], h5py.Group):
                    continue
                group = node(file, f"data/{demo}", h5py.Group, str(path))
                if "actions" not in group or "obs/joint_pos" not in group:
                    continue
                if "success" in group.attrs and not bool(group.attrs["success"]):
                    log.info("import-hdf5: %s:/data/%s is marked unsuccessful; skipped (as LeIsaac does)", path, demo)
                    continue
                obs = node(file, f"data/{demo}/obs", h5py.Group, str(path))
                items = {name: node(file, f"data/{demo}/obs/{name}", object, str(path)) for name in obs}
                cameras = {
                    _camera(path, name, rename, LEISAAC_CAMERAS): f"data/{demo}/obs/{name}"
                    for name, item in items.items()
                    if isinstance(item, h5py.Dataset) and item.ndim == 4 and item.shape[-1] == 3
                }
                episodes.append(
                    EpisodeSource(path, f"/data/{demo}", "leisaac", f"data/{demo}/obs/joint_pos",
                                  f"data/{demo}/actions", cameras, attrs)
                )
            if episodes:
                return episodes
        raise DatasetError(
            f"--input {path}: unknown layout; expected the ACT/ALOHA layout (/observations/qpos, /action, "
            "/observations/images/<camera>) or LeIsaac's (/data/demo_<i>/obs/joint_pos, /data/demo_<i>/actions)"
        )


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _camera(path: Path, name: str, rename: dict[str, str], defaults: dict[str, str]) -> str:
    camera = rename.get(name, defaults.get(name, name))
    if camera not in ROBOT_CAMERA_NAMES:
        raise DatasetError(
            f"--input {path}: camera {name!r} is not a workbench camera ({', '.join(ROBOT_CAMERA_NAMES)}); "
            f'rename it with --cameras "{{{name}: overhead_cam}}"'
        )
    return camera


# ---------------------------------------------------------------------- checking


@dataclass
class CheckedEpisode:
    source: EpisodeSource
    frames: int
    image_shapes: dict[str, tuple[int, int]]
    """Camera -> (height, width)."""


def check_episode(source: EpisodeSource) -> CheckedEpisode:
    """Shapes, joint count, lengths and finiteness of one episode (reads its joints, not its images).

    Raises:
        DatasetError: naming the episode and the problem.
    """
    import h5py

    with h5py.File(source.path, "r") as file:
        joints = {key: node(file, key, h5py.Dataset, source.name) for key in (source.state_key, source.action_key)}
        for key, item in joints.items():
            # Shapes and sizes first: nothing is read before they pass.
            check_size(item, key, source.name)
            if item.ndim != 2 or item.shape[1] != 6:
                raise DatasetError(
                    f"{source.name}: {key} has shape {item.shape}; expected (frames, 6): the six SO-101 joints "
                    "shoulder_pan .. gripper (a bimanual or other robot's file cannot be imported)"
                )
            if item.dtype.kind not in "fiub":
                raise DatasetError(f"{source.name}: {key} holds {item.dtype} values, not numbers; the file is foreign")
        arrays = {key: np.asarray(item) for key, item in joints.items()}
        images = {camera: node(file, key, h5py.Dataset, source.name) for camera, key in source.images.items()}
        lengths = {key: len(array) for key, array in arrays.items()}
        for key, array in arrays.items():
            if not np.all(np.isfinite(array)):
                frame = int(np.argwhere(~np.isfinite(array))[0][0])
                raise DatasetError(f"{source.name}: {key} holds NaN or inf (first at frame {frame}); fix or drop it")
        shapes = {}
        for camera, item in images.items():
            if item.dtype != np.uint8 or item.ndim != 4 or item.shape[-1] != 3:
                raise DatasetError(
                    f"{source.name}: images of {camera} are {item.dtype} {item.shape}; expected uint8 "
                    "(frames, height, width, 3) RGB (JPEG-compressed ALOHA files must be decompressed first)"
                )
            check_size(item, source.images[camera], source.name, image=True)
            lengths[source.images[camera]] = len(item)
            shapes[camera] = (int(item.shape[1]), int(item.shape[2]))
    if len(set(lengths.values())) != 1:
        listed = ", ".join(f"{key} {length}" for key, length in lengths.items())
        raise DatasetError(f"{source.name}: lengths differ ({listed}); every array needs one entry per frame")
    frames = next(iter(lengths.values()))
    if source.is_pad is not None:
        with h5py.File(source.path, "r") as file:
            is_pad = np.asarray(file[source.is_pad], dtype=bool)
        real = int(np.argmax(is_pad)) if is_pad.any() else len(is_pad)
        if len(is_pad) != frames or is_pad[real:].sum() != len(is_pad) - real:
            raise DatasetError(
                f"{source.name}: /{source.is_pad} is not {frames} flags false then true (padding at the end, as "
                "export-hdf5 --pad_to writes it); fix or remove it"
            )
        frames = real
    if frames == 0:
        raise DatasetError(f"{source.name}: the episode has no frames")
    return CheckedEpisode(source, frames, shapes)


# ---------------------------------------------------------------------- attributes and units


def file_attribute(episodes: list[EpisodeSource], attribute: str) -> str | None:
    """The files' root attribute ``attribute`` as text (it must agree between files), or None when none has it."""
    values = {str(e.attrs[attribute]) for e in episodes if attribute in e.attrs}
    if len(values) > 1:
        raise DatasetError(f"the files disagree on their {attribute} ({', '.join(sorted(values))}); give --{attribute}")
    return next(iter(values)) if values else None


def file_fps(episodes: list[EpisodeSource], given: int | None) -> int:
    """``--fps``, else the files' ``fps`` attribute, else 30 (ACT's and LeIsaac's rate)."""
    if given is not None:
        return given
    text = file_attribute(episodes, "fps")
    try:
        fps = 30 if text is None else round(float(text))
    except ValueError:
        fps = 0
    if fps < 1:
        raise DatasetError(f"the files' fps attribute is {text!r}, not a frame rate; give --fps")
    return fps


def to_dataset_units(values: np.ndarray, units: str, limits: JointLimits) -> np.ndarray:
    """(T, 6) joint values in ``units`` -> dataset units (degrees, gripper 0..100), float32."""
    if units == "degrees":
        return values.astype(np.float32)
    radians = values if units == "radians" else dataset_to_radians(values, limits, "range_m100_100")
    return radians_to_dataset(radians, limits, "degrees").astype(np.float32)


def episode_units(source: EpisodeSource, given: str) -> str:
    if given != "auto":
        return given
    if source.layout == "leisaac":
        return "radians"
    units = str(source.attrs.get("units", ""))
    if units in ("degrees", "range_m100_100", "radians"):
        return units
    raise DatasetError(
        f"{source.name} does not say the units of its joints (no 'units' attribute); give --units degrees, "
        "range_m100_100 or radians"
    )
