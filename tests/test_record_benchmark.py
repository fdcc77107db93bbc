"""``so101 bench record`` runs the recorder on scripted episodes and reports the speed against real time."""

from __future__ import annotations

from pathlib import Path

from recording.benchmark import main


def test_reports_the_ratio_to_real_time_and_can_keep_the_dataset(tmp_path: Path, capsys) -> None:
    kept = tmp_path / "kept"
    main(
        [
            "--episodes",
            "1",
            "--camera_width",
            "64",
            "--camera_height",
            "48",
            "--dataset.vcodec",
            "h264",
            "--keep",
            str(kept),
        ]
    )
    out = capsys.readouterr().out
    assert "bench record: 1 episodes" in out and "x real time" in out and "64x48" in out
    assert (kept / "meta" / "info.json").is_file()
