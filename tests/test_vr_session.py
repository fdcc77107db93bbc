"""The OpenXR session against Monado: it reaches FOCUSED, reports the runtime, follows the state machine, ends
cleanly; ``so101 vr --check`` (teleop/vr/session.py, teleop/vr/vr_cmd.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from monado import monado  # noqa: F401  (fixture)

from so101.teleop.vr.actions import ControllerActions
from so101.teleop.vr.runtime_info import runtime_info
from so101.teleop.vr.session import XrSession
from so101.teleop.vr.vr_cmd import main, rendered_rate

HEADLESS = ["--vr.graphics", "egl", "--vr.mirror", "false", "--vr.render_profile", "fast"]


@pytest.fixture
def session(monado: object) -> Iterator[XrSession]:  # noqa: F811
    session = XrSession(graphics="egl", mirror=False)
    try:
        yield session
    finally:
        session.close()


def empty_frames(session: XrSession):
    def frame() -> None:
        session.poll_events()
        state = session.wait_frame()
        if state is not None:
            session.end_frame(state, [])

    return frame


def test_the_session_reaches_focused_and_reports_the_headset(session: XrSession) -> None:
    actions = ControllerActions(session, "right")
    assert session.wait_until(lambda: session.focused, 10.0, empty_frames(session))
    assert session.running and session.visible and not session.ended
    info = runtime_info(session)
    assert info.runtime.startswith("Monado") and info.system == "Monado: Simulated HMD"
    assert info.graphics == "egl" and "XR_MNDX_egl_enable" in info.extensions
    assert len(info.views) == 2 and info.views[0].recommended == (320, 240)
    assert info.refresh_rate_hz == pytest.approx(20.0)
    assert 0.0 < session.display_period_s <= 0.051  # the runtime's prediction (the null compositor runs at 20 Hz)
    sample = actions.read()
    assert sample.hand is not None and sample.buttons == frozenset()
    assert actions.interaction_profile() == "/interaction_profiles/khr/simple_controller"
    assert actions.pulse()  # the haptic output the simple profile binds: accepted by the runtime
    assert session.head() is not None


def test_focus_visibility_and_the_end_follow_the_state_machine(session: XrSession) -> None:
    import xr

    actions = ControllerActions(session, "right")
    frame = empty_frames(session)
    assert session.wait_until(lambda: session.focused, 10.0, frame)
    seen = []
    session.on_state.append(seen.append)
    session.handle_state(xr.SessionState.VISIBLE)  # the headset taken off, the system menu open
    assert session.visible and not session.focused
    assert actions.read().hand is None  # no input without focus
    session.handle_state(xr.SessionState.FOCUSED)
    assert session.focused and actions.read().hand is not None
    session.request_exit(frame=frame)  # the runtime answers STOPPING, then EXITING
    assert session.ended and not session.lost and not session.running
    assert xr.SessionState.STOPPING in seen
    session.close()
    session.close()  # idempotent


def test_vr_check_reports_a_ready_headset(monado: object, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main(["--check", *HEADLESS]) == 0
    out = capsys.readouterr().out
    for expected in ("runtime: Monado", "system: Monado: Simulated HMD", "recommended 320x240 per eye",
                     "refresh rate: 20.0 Hz", "(render profile ", "graphics: egl", "khr/simple_controller",
                     "verdict: ready"):  # fmt: skip
        assert expected in out, out


def test_vr_check_without_controllers_is_not_ready(
    monado: object,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SIMULATED_ENABLE", "0")  # Monado's default headset, without controllers
    assert main(["--check", *HEADLESS]) == 1
    assert "verdict: NOT READY: no controller bound to the right hand" in capsys.readouterr().out


def test_a_missing_runtime_manifest_is_one_line_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XR_RUNTIME_JSON", str(tmp_path / "missing.json"))
    assert main(["--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("so101 vr: XR_RUNTIME_JSON=") and "is not a file" in err and "\n" not in err


def test_vr_practice_runs_episodes_until_the_stop_button(
    monado: object,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dataclasses import replace

    from so101.teleop.vr.headset import Headset

    sample, calls = Headset.sample, []

    def pressing(self: Headset) -> object:  # A to start the first episode, then (after it timed out) Y to stop
        calls.append(None)
        buttons = {"start_save"} if len(calls) < 3 else {"stop"} if len(calls) > 12 else set()
        return replace(sample(self), buttons=frozenset(buttons))

    monkeypatch.setattr(Headset, "sample", pressing)
    assert main([*HEADLESS, "--episode_time_s", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "vr: seed 0: timeout after 0.2 s" in out and "seed 1" not in out


def test_record_without_a_runtime_says_so_before_writing_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from so101.recording.record import main as record_main

    monkeypatch.setenv("XR_RUNTIME_JSON", str(tmp_path / "missing.json"))
    assert record_main(["--teleop", "vr", "--dataset.root", str(tmp_path / "data"), "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("so101 record: XR_RUNTIME_JSON=") and "\n" not in err
    assert not (tmp_path / "data").exists()


def test_the_rendered_rate_never_exceeds_the_display_rate() -> None:
    assert rendered_rate(63, 3.0, 20.0) == 20.0  # 21 frames/s counted over a window's edges: 20 of 20
    assert rendered_rate(30, 3.0, 20.0) == 10.0 and rendered_rate(0, 0.0, 20.0) == 0.0
