"""Rewriting a LeRobot v3.0 dataset with some vector features replaced, file by file, statistics included.

Why not LeRobot's ``modify_features`` / ``add_features`` (``lerobot/datasets/dataset_tools.py``, checked in 0.4.4):
they assign a new feature as one column (``df[name] = values``), which fails for the 2-D (frames, dim) arrays a
vector feature is; they cannot replace a feature under its own name (``action`` stays ``action``, with a new
shape); they copy ``meta/episodes`` as it was, so each episode's ``stats/action/*`` would keep the joints'
statistics; and new features get no statistics at all. This module uses LeRobot's own pieces for what they do
well: ``get_hf_features_from_features`` for the parquet schema, ``compute_episode_stats`` and ``aggregate_stats``
for the statistics, ``write_info`` and ``write_stats`` for the metadata.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from so101.errors import DatasetError

EpisodeConverter = Callable[[int, dict[str, np.ndarray]], dict[str, np.ndarray]]
"""(episode_index, {feature: (T, dim) source values}) -> {feature: (T, new_dim) new values}."""


class DatasetRewriter:
    """Writes a copy of the dataset at ``src`` into ``dst`` (a new folder) with ``new_features`` replaced.

    Args:
        new_features: feature name -> its new LeRobot feature dict (``dtype``, ``shape``, ``names``).
        keep_prefix: the source values of each replaced feature are kept as ``<keep_prefix><name>``.
    """

    def __init__(
        self, src: Path, dst: Path, repo_id: str, new_features: dict[str, dict[str, Any]], keep_prefix: str
    ) -> None:
        self.src, self.dst, self.repo_id = Path(src), Path(dst), repo_id
        self.info = json.loads((self.src / "meta" / "info.json").read_text())
        self.replaced = list(new_features)
        self.kept = {key: f"{keep_prefix}{key}" for key in self.replaced}
        features: dict[str, Any] = {}
        for key, feature in self.info["features"].items():
            if key in new_features:
                features[key] = new_features[key]
                features[self.kept[key]] = feature
            else:
                features[key] = feature
        self.features = features
        self._episode_stats: dict[int, dict[str, dict[str, np.ndarray]]] = {}

    def run(self, convert_episode: EpisodeConverter, context_keys: list[str]) -> tuple[int, int]:
        """Convert every episode with ``convert_episode``, which also sees the source ``context_keys`` columns;
        returns (frames, episodes) written."""
        # Videos, tasks, meta/so101 and anything else travel byte for byte; the data and the metadata that
        # describes it are written below.
        shutil.copytree(self.src, self.dst, ignore=shutil.ignore_patterns("data"), copy_function=shutil.copy2)
        files = sorted((self.src / "data").glob("chunk-*/file-*.parquet"))
        if not files:
            raise DatasetError(f"{self.src} has no data files under data/; is it a finalized LeRobot v3.0 dataset?")
        frames = 0
        for path in files:
            frames += self._convert_file(path, convert_episode, context_keys)
        expected = self.info.get("total_frames")
        if expected is not None and frames != expected:
            raise DatasetError(
                f"{self.src}: the data files hold {frames} frames, meta/info.json says {expected}; the dataset is "
                "damaged or half-written: restore or re-record it"
            )
        self._write_metadata()
        return frames, len(self._episode_stats)

    def _convert_file(self, path: Path, convert_episode: EpisodeConverter, context_keys: list[str]) -> int:
        import datasets
        import pandas as pd
        import pyarrow.parquet as pq
        from lerobot.datasets.compute_stats import compute_episode_stats
        from lerobot.datasets.utils import get_hf_features_from_features

        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # pyarrow raises several types for a damaged file; all mean the same here
            raise DatasetError(
                f"{path} cannot be read ({type(error).__name__}: {str(error).splitlines()[0][:200]}); the dataset "
                "is damaged: restore the file or re-record the dataset"
            ) from error
        missing = [key for key in ["episode_index", *self.replaced] if key not in frame.columns]
        if missing:
            raise DatasetError(f"{path} lacks the columns {missing}; the dataset is damaged or not LeRobot v3.0")
        pieces = []
        for episode_index, rows in frame.groupby("episode_index", sort=False):
            rows = rows.copy()
            columns = {
                key: np.stack(rows[key].to_numpy()).astype(np.float64)
                for key in dict.fromkeys([*self.replaced, *context_keys])
            }
            converted = convert_episode(int(episode_index), columns)
            stats_input = {}
            for key in self.replaced:
                rows[self.kept[key]] = rows[key]
                rows[key] = list(converted[key])
                stats_input[key] = converted[key]
                stats_input[self.kept[key]] = columns[key].astype(np.float32)
            self._episode_stats[int(episode_index)] = compute_episode_stats(stats_input, self.features)
            pieces.append(rows)
        out = pd.concat(pieces)[[key for key in self.features if key in frame.columns or key in self.kept.values()]]
        # LeRobot's metadata holds shapes as tuples (info.json as lists); its schema builder compares with (1,).
        shaped = {key: {**feature, "shape": tuple(feature["shape"])} for key, feature in self.features.items()}
        table = datasets.Dataset.from_pandas(out, features=get_hf_features_from_features(shaped), preserve_index=False)
        target = self.dst / path.relative_to(self.src)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.with_format("arrow")[:], target, compression="snappy")
        return len(out)

    def _write_metadata(self) -> None:
        import pandas as pd
        from lerobot.datasets.compute_stats import aggregate_stats
        from lerobot.datasets.utils import load_stats, write_info, write_stats

        for path in sorted((self.dst / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
            episodes = pd.read_parquet(path)
            for key in self.replaced:
                for column in [c for c in episodes.columns if c.startswith(f"stats/{key}/")]:
                    stat = column.rsplit("/", 1)[1]
                    episodes[f"stats/{self.kept[key]}/{stat}"] = episodes[column]
                    # One dtype per column: LeRobot's quantiles come out float32 or float64 with the input.
                    dtype = np.int64 if stat == "count" else np.float64
                    episodes[column] = [
                        np.asarray(self._stats_of(int(i))[key][stat], dtype=dtype) for i in episodes["episode_index"]
                    ]
            episodes.to_parquet(path, index=False)
        stats = load_stats(self.dst) or {}
        episode_stats = list(self._episode_stats.values())
        for key in self.replaced:
            if key in stats:
                stats[self.kept[key]] = stats[key]
            stats[key] = aggregate_stats([{key: s[key]} for s in episode_stats])[key]
            if self.kept[key] not in stats:
                stats[self.kept[key]] = aggregate_stats([{self.kept[key]: s[self.kept[key]]} for s in episode_stats])[
                    self.kept[key]
                ]
        write_stats(stats, self.dst)
        write_info({**self.info, "features": self.features}, self.dst)

    def _stats_of(self, episode_index: int) -> dict[str, dict[str, np.ndarray]]:
        if episode_index not in self._episode_stats:
            raise DatasetError(
                f"{self.src}: meta/episodes lists episode {episode_index}, which the data files do not hold; the "
                "dataset is damaged: restore or re-record it"
            )
        return self._episode_stats[episode_index]
