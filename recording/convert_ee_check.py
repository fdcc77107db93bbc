"""The check ``so101 dataset validate`` runs on an end-effector dataset: its ``ee.*`` features are the forward
kinematics of the joints ``so101 convert-ee`` kept beside them (``joints.*``).

The joints are read in the units the recording's metadata gives (``convert_ee_source.metadata_units``), not in the
units the conversion recorded: a conversion run with the wrong ``--units`` (before convert-ee refused it) wrote the
poses of another arm, and agreeing with its own report would hide that. Without workbench metadata the units of
``meta/so101/convert_ee.json`` are the only word, and the check still catches features edited after the conversion.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from so101.errors import DatasetError
from so101.recording.convert_ee_source import metadata_units, model_path

POSITION_TOLERANCE_M = 1e-3
"""Largest TCP distance between a stored EE feature and the FK of its kept joints (float32 rounding is ~1e-7 m)."""
ORIENTATION_TOLERANCE_RAD = 1e-2
"""Largest rotation between them (0.6 degrees; float32 rounding is ~1e-6 rad)."""


def check_ee_features(root: Path) -> list[str]:
    """Problems of the EE features of the dataset at ``root`` against its kept joints, each with its fix; empty when
    they agree or the dataset is not a convert-ee output."""
    import mujoco
    import pandas as pd

    from so101.kinematics.ee_convert import JointsToEE
    from so101.kinematics.ee_features import EELayout
    from so101.kinematics.pose import quat_angle
    from so101.recording.convert_ee import REPORT_FILE

    report_path = root / REPORT_FILE
    if not report_path.is_file():
        return []
    conversion = json.loads(report_path.read_text())
    try:
        recorded = metadata_units(root)
    except DatasetError as error:
        return [str(error)]
    units = recorded.units if recorded is not None else conversion["units"]
    units_reason = recorded.reason if recorded is not None else f"as {REPORT_FILE} says"
    model = Path(conversion.get("model", ""))
    model = model if model.is_file() else model_path(root, None)
    layout = EELayout.from_json(conversion["layout"])
    converter = JointsToEE(mujoco.MjModel.from_xml_path(str(model)), layout, units)
    converted: dict[str, str] = conversion["converted"]
    worst = {key: (0.0, 0.0, set()) for key in converted}
    for path in sorted((root / "data").glob("chunk-*/file-*.parquet")):
        data = pd.read_parquet(path, columns=["episode_index", *converted, *converted.values()])
        for key, joints_key in converted.items():
            joints = np.stack(data[joints_key].to_numpy()).astype(np.float64)
            position, quat, _ = layout.decode(np.stack(data[key].to_numpy()))
            pose = converter.fk.batch(converter.radians(joints))
            distance = np.linalg.norm(position - pose.position, axis=1)
            angle = quat_angle(quat, pose.quat)
            bad = (distance > POSITION_TOLERANCE_M) | (angle > ORIENTATION_TOLERANCE_RAD)
            far, turned, episodes = worst[key]
            episodes |= set(data["episode_index"].to_numpy()[bad].tolist())
            worst[key] = (max(far, float(distance.max(initial=0.0))), max(turned, float(angle.max(initial=0.0))),
                          episodes)
    problems = []
    for key, (far, turned, episodes) in worst.items():
        if episodes:
            problems.append(
                f"{key}: episodes {sorted(episodes)} are not the forward kinematics of {converted[key]} in {units} "
                f"({units_reason}): up to {1000 * far:.1f} mm and {np.rad2deg(turned):.1f} deg apart. The conversion "
                "used other units or another model: convert the joint-space dataset again (so101 convert-ee, "
                "without --units)"
            )
    return problems
