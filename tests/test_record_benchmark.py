"""``so101 bench record`` runs the recorder on scripted episodes and reports the speed against real time."""

from __future__ import annotations

from pathlib import Path

from so101.recording.benchmark import main


def test_reports_the_ratio_to_real_time_and_can_keep_the_dataset(tmp_path: Path, capsys) -> None:
    kept = tmp_path / "kept"
    status = main(
        [
            "--episodes",
            "1",
            "--cameras.width",
            "64",
            "--cameras.height",
            "48",
            "--dataset.vcodec",
            "h264",
            "--keep",
            str(kept),
        ]
    )
    assert status == 0  # a benchmark that ran exits 0, whatever its figures
    out = capsys.readouterr().out
    assert "target >= 3x" in out and "machine:" in out and "cores" in out
    assert "bench record: 1 episodes" in out and "x real time" in out and "64x48" in out
    assert (kept / "meta" / "info.json").is_file()
