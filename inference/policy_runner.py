"""The one policy runner: joint state and camera images in, one action per control step out.

Sim evaluation (``so101.inference.episode``) and deployment on the real follower drive a LeRobot policy through it:

* the observation is built from the joint state (dataset units: degrees, gripper 0..100, as LeRobot's SO-101
  follower reports them) and camera images (uint8 (height, width, 3) by camera name), under LeRobot's feature names
  ``observation.state`` and ``observation.images.<camera>``; the checkpoint's own preprocessor batches, resizes,
  normalises and moves them to the policy's device;
* with action chunking the policy predicts a chunk per call and the runner executes its first ``n_action_steps``
  actions, one per step, before the next call. ``needs_images`` says whether the next step calls the policy, so a
  caller renders (or grabs) camera images only then: images between calls would be discarded;
* with ACT's temporal ensembling (``temporal_ensemble_coeff`` set in the policy's config) the policy is called every
  step and LeRobot's own ensembler averages the overlapping chunks;
* every policy call (preprocessing, network, postprocessing) is timed.

Actions come out in dataset units, shape (action_dim,), as the follower and ``So101Sim.step`` take them.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from so101.policies.act import IMAGE_PREFIX, STATE_KEY
from so101.sim.environment_state import ENVIRONMENT_STATE_KEY

if TYPE_CHECKING:
    import torch

    from so101.policies.checkpoint import LoadedPolicy


@dataclass
class CallTiming:
    """Wall-clock durations of policy calls since the last ``reset``."""

    durations_s: list[float] = field(default_factory=list)
    """Seconds of each call, in order."""

    @property
    def count(self) -> int:
        return len(self.durations_s)

    @property
    def total_s(self) -> float:
        return float(sum(self.durations_s))

    @property
    def median_s(self) -> float:
        """Median seconds per call; 0 before the first call."""
        return statistics.median(self.durations_s) if self.durations_s else 0.0

    @property
    def max_s(self) -> float:
        """Seconds of the slowest call; 0 before the first call."""
        return max(self.durations_s, default=0.0)

    def line(self) -> str:
        """E.g. ``15 policy calls, median 41.2 ms, max 97.0 ms, 0.64 s in all``."""
        return (
            f"{self.count} policy calls, median {1000 * self.median_s:.1f} ms, max {1000 * self.max_s:.1f} ms, "
            f"{self.total_s:.2f} s in all"
        )


class PolicyRunner:
    """Runs a LeRobot policy one control step at a time.

    Args:
        policy: a LeRobot ``PreTrainedPolicy`` in eval mode (ACT here), with its ``config``.
        preprocessor: the checkpoint's input pipeline (batching, resize, normalisation, device).
        postprocessor: the checkpoint's output pipeline (unnormalisation back to dataset units, to the CPU).
    """

    def __init__(self, policy: Any, preprocessor: Any, postprocessor: Any) -> None:
        self.policy = policy
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        config = policy.config
        self.temporal_ensemble = getattr(config, "temporal_ensemble_coeff", None) is not None
        """Whether ACT's temporal ensembling is on: the policy is called every step."""
        self.n_action_steps = 1 if self.temporal_ensemble else int(getattr(config, "n_action_steps", 1))
        """Actions of each predicted chunk executed before the next policy call."""
        self.cameras = [key.removeprefix(IMAGE_PREFIX) for key in config.image_features]
        """Cameras the policy observes, by scene camera name (``overhead_cam``, ``wrist_cam``, ...)."""
        self.observes_environment_state = getattr(config, "env_state_feature", None) is not None
        """Whether the policy observes ``observation.environment_state`` (privileged: the simulator alone has it)."""
        self.timing = CallTiming()
        self._queue: deque[np.ndarray] = deque()

    @classmethod
    def from_loaded(cls, loaded: LoadedPolicy) -> PolicyRunner:
        """A runner of a checkpoint loaded by ``so101.policies.act.load_policy``."""
        return cls(loaded.policy, loaded.preprocessor, loaded.postprocessor)

    @classmethod
    def from_checkpoint(
        cls,
        path: Path | str,
        device: str | None = None,
        n_action_steps: int | None = None,
        temporal_ensemble_coeff: float | None = None,
    ) -> PolicyRunner:
        """Load a checkpoint (see ``so101.policies.act.load_policy`` for the overrides) and wrap it."""
        from so101.policies.checkpoint import load_policy

        return cls.from_loaded(load_policy(path, device, n_action_steps, temporal_ensemble_coeff))

    @property
    def needs_images(self) -> bool:
        """Whether the next ``act`` calls the policy, and so needs the camera images."""
        return self.temporal_ensemble or not self._queue

    def reset(self) -> None:
        """Start an episode: forget queued actions, the policy's own state (ensembler) and the call timings."""
        self._queue.clear()
        self.policy.reset()
        self.timing = CallTiming()

    def observation(
        self, state: np.ndarray, images: Mapping[str, np.ndarray], environment_state: np.ndarray | None = None
    ) -> dict[str, torch.Tensor]:
        """The policy's raw observation: ``observation.state`` float32 (state_dim,) in dataset units,
        ``observation.images.<camera>`` float (3, H, W) in [0, 1] and, for a policy that observes it,
        ``observation.environment_state`` (``so101.sim.environment_state``); the preprocessor adds the batch
        dimension."""
        import torch

        missing = [name for name in self.cameras if name not in images]
        if missing:
            raise ValueError(f"the policy observes cameras {self.cameras}; images of {missing} are missing")
        observation = {STATE_KEY: torch.from_numpy(np.asarray(state, dtype=np.float32))}
        if self.observes_environment_state:
            if environment_state is None:
                raise ValueError(
                    "the policy observes observation.environment_state (the objects' poses, which only the "
                    "simulator knows); run it in the simulator (so101 eval), not on a real arm"
                )
            observation[ENVIRONMENT_STATE_KEY] = torch.from_numpy(np.asarray(environment_state, dtype=np.float32))
        for name in self.cameras:
            image = np.asarray(images[name])
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"camera {name!r}: expected uint8 (height, width, 3), got {image.dtype} {image.shape}")
            observation[IMAGE_PREFIX + name] = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)
        return observation

    def act(
        self,
        state: np.ndarray,
        images: Mapping[str, np.ndarray] | None = None,
        environment_state: np.ndarray | None = None,
    ) -> np.ndarray:
        """The action for this control step (dataset units, shape (action_dim,)).

        Args:
            state: joint positions now, dataset units, shape (state_dim,).
            images: camera images now, by camera name; needed only when ``needs_images`` is true.
            environment_state: the objects' poses now (``so101.sim.environment_state``), for a policy that
                ``observes_environment_state``, when ``needs_images`` is true.
        """
        if self.needs_images:
            if images is None:
                raise ValueError("the policy takes a new observation this step: pass the camera images")
            self._call(state, images, environment_state)
        return self._queue.popleft()

    def _call(
        self, state: np.ndarray, images: Mapping[str, np.ndarray], environment_state: np.ndarray | None
    ) -> None:
        import torch

        start = time.perf_counter()
        with torch.inference_mode():
            batch = self.preprocessor(self.observation(state, images, environment_state))
            if self.temporal_ensemble:
                # LeRobot's select_action runs ACT's temporal ensembler over the chunks predicted so far.
                actions = self.postprocessor(self.policy.select_action(batch))
            else:
                actions = self.postprocessor(self.policy.predict_action_chunk(batch)[:, : self.n_action_steps])[0]
            actions = actions.detach().to("cpu", torch.float64).numpy()
        self._queue.clear()
        self._queue.extend(actions)
        self.timing.durations_s.append(time.perf_counter() - start)
