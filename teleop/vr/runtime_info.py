"""What ``so101 vr --check`` and ``so101 bench vr`` report about an OpenXR runtime and its headset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from so101.teleop.vr.session import ViewInfo, XrSession


@dataclass
class RuntimeInfo:
    """What ``so101 vr --check`` reports about the runtime and the headset."""

    runtime: str
    version: str
    system: str
    vendor_id: int
    tracking: str
    """``position and orientation``, ``orientation only``..."""
    view_configuration: str
    views: list[ViewInfo]
    graphics: str
    """The binding chosen (``glx``, ``wgl``, ``egl``)."""
    reference_space: str
    refresh_rate_hz: float | None = None
    """The display refresh rate when the runtime reports it (``XR_FB_display_refresh_rate``), else None."""
    extensions: list[str] = field(default_factory=list)


def _version(version: Any) -> str:
    import xr

    return str(xr.Version(int(version))) if int(version) else "?"


def runtime_info(session: XrSession) -> RuntimeInfo:
    """What the runtime and the headset of ``session`` report."""
    import xr

    instance = xr.get_instance_properties(session.instance)
    system = xr.get_system_properties(session.instance, session.system_id)
    tracking = system.tracking_properties
    kinds = [name for name, ok in (("position", tracking.position_tracking), ("orientation",
             tracking.orientation_tracking)) if ok]  # fmt: skip
    refresh = None
    if "XR_FB_display_refresh_rate" in session.extensions:
        rate = xr.get_display_refresh_rate_fb(session.session)
        refresh = float(getattr(rate, "value", rate))
    return RuntimeInfo(
        runtime=instance.runtime_name.decode(),
        version=_version(instance.runtime_version),
        system=system.system_name.decode(),
        vendor_id=int(system.vendor_id),
        tracking=" and ".join(kinds) or "none",
        view_configuration=session.view_type.name,
        views=session.views,
        graphics=session.gl.graphics if session.gl is not None else "?",
        reference_space=session.reference_type.name,
        refresh_rate_hz=refresh,
        extensions=list(session.extensions),
    )
