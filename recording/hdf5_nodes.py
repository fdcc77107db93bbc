"""The nodes of a foreign HDF5 file, reached and sized safely before ``so101 dataset import-hdf5`` reads them.

HDF5 is lazy: a dataset of ``(2**40, 6)`` floats is a few kilobytes on disk until it is read (then 24 TiB of
memory); a soft link can point at itself; an external link reads another file, possibly elsewhere; a name where a
group is expected may be a dataset, whose iteration reads it row by row. ``node`` walks a path one link at a time
and refuses a link it cannot follow or a node of the wrong kind; ``check_size`` refuses shapes beyond the limits
below, with the numbers; ``action_warnings`` says when joint values look scaled or in other units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from so101.errors import DatasetError
from so101.kinematics.units import JointLimits, radians_to_dataset

MAX_FRAMES = 1_000_000
"""Frames of one episode at most (9 h 15 min at 30 fps); more is a damaged or foreign file."""
MAX_IMAGE_SIDE = 4096
"""Pixels of an image's height or width at most."""
RANGE_MARGIN = 10.0
"""Dataset units (degrees; gripper percent) beyond the model's joint ranges that still count as within them."""


def node(file: Any, path: str, kind: type, where: str) -> Any:
    """The group or dataset (``kind``, an ``h5py`` class) at ``path`` of the open ``file``, reached one link at a
    time: soft links are followed when they resolve, external links never (the import reads the files it is given).

    Raises:
        DatasetError: a link that cannot be followed, a missing node, or a node of another kind; ``where`` names
            the file (and episode) in the message.
    """
    import h5py

    group, walked = file, ""
    parts = [part for part in path.split("/") if part]
    for i, name in enumerate(parts):
        walked += "/" + name
        link = group.get(name, getlink=True)
        if link is None:
            raise DatasetError(f"{where}: {walked} does not exist; the file is not in the layout it claims")
        if isinstance(link, h5py.ExternalLink):
            raise DatasetError(
                f"{where}: {walked} is an external link to {link.filename}:{link.path}; import-hdf5 reads only the "
                "files it is given: copy the data into the file (h5py: f[name] = other[name][...])"
            )
        try:
            item = group[name]
        except (KeyError, RuntimeError, OSError) as error:
            target = link.path if isinstance(link, h5py.SoftLink) else walked
            raise DatasetError(
                f"{where}: {walked} is a link to {target} that cannot be followed ({error!s:.60}: a loop or a "
                "missing target); replace it with the data it should point to"
            ) from None
        wanted = kind if i == len(parts) - 1 else h5py.Group
        if not isinstance(item, wanted):
            found = "dataset" if isinstance(item, h5py.Dataset) else "group"
            expected = "dataset (an array)" if wanted is h5py.Dataset else "group (of datasets)"
            raise DatasetError(f"{where}: {walked} is a {found}, expected a {expected}; the file is damaged or foreign")
        group = item
    return group


def check_size(dataset: Any, what: str, where: str, image: bool = False) -> None:
    """Refuse a dataset whose frames (its first axis) or image sides exceed ``MAX_FRAMES`` / ``MAX_IMAGE_SIDE``,
    before anything of it is read."""
    shape = tuple(int(side) for side in dataset.shape)
    frames = shape[0] if shape else 0
    size = int(np.prod(shape, dtype=np.float64) * dataset.dtype.itemsize) if shape else 0
    if frames > MAX_FRAMES:
        raise DatasetError(
            f"{where}: {what} has shape {shape} ({frames} frames, {_bytes(size)} when read); an episode holds at "
            f"most {MAX_FRAMES} frames: the file is damaged or not episodes of an arm"
        )
    if image and len(shape) == 4 and max(shape[1], shape[2]) > MAX_IMAGE_SIDE:
        raise DatasetError(
            f"{where}: {what} has shape {shape}: images of {shape[1]}x{shape[2]} pixels ({_bytes(size)} when read); "
            f"the limit is {MAX_IMAGE_SIDE} pixels a side: the file is damaged, or resize its images first"
        )


def _bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.0f} PiB"


def action_warnings(raw: np.ndarray, converted: np.ndarray, units: str, limits: JointLimits, what: str) -> list[str]:
    """Why the joint values ``raw`` (T, 6) as stored, ``converted`` into dataset units (degrees, gripper 0..100)
    from ``units``, look wrong: integers, or values beyond the SO-101's joint ranges; one sentence each."""
    found = []
    seen = f"{raw.min():.4g}..{raw.max():.4g}"
    lower = radians_to_dataset(limits.lower, limits, "degrees") - RANGE_MARGIN
    upper = radians_to_dataset(limits.upper, limits, "degrees") + RANGE_MARGIN
    if raw.dtype.kind in "iub":
        found.append(
            f"{what} holds {raw.dtype} integers ({seen}); expected floats in {units} (degrees: gripper 0..100), as "
            "scaled or quantized values import wrong"
        )
    outside = np.flatnonzero(((converted < lower) | (converted > upper)).any(axis=0))
    if outside.size:
        joint = int(outside[0])
        found.append(
            f"{what} goes beyond the SO-101's joint ranges: values {seen} as {units} reach "
            f"{converted[:, joint].min():.4g}..{converted[:, joint].max():.4g} degrees on joint {joint}, whose range "
            f"is {lower[joint] + RANGE_MARGIN:.4g}..{upper[joint] - RANGE_MARGIN:.4g}; check --units (degrees, "
            "range_m100_100 or radians) and whether the file scales its values"
        )
    return found
