"""Where a job keeps its fit state between iterations, so a rerun after a crash resumes.

The state lives under the output's staging area, keyed by the job's config hash and the input
fingerprint, so only a rerun of the same job on the same input picks it up. It is written as
an ``.npz`` of arrays plus JSON (never pickle: loading it must not run code), each save
replacing the previous one atomically (one object write, or a rename on local disk).
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

from dkmeans.results import IterationRecord

logger = logging.getLogger(__name__)

_ARRAYS = ("centers", "n_iter", "converged", "shift")


class CheckpointStore:
    """Save and load one fit state under ``<output>/_staging/checkpoint-<key>/state.npz``.

    Parameters
    ----------
    output_url : str
    key : str
        Identifies the job and its input (config hash + input fingerprint).
    storage_options : dict, optional
    """

    def __init__(self, output_url, key, storage_options=None):
        self.fs, root = fsspec.core.url_to_fs(output_url, **(storage_options or {}))
        self.path = f"{root.rstrip('/')}/_staging/checkpoint-{key}/state.npz"
        self.saves = 0

    def load(self):
        """The saved state dict, or None."""
        try:
            with self.fs.open(self.path, "rb") as f:
                data = np.load(io.BytesIO(f.read()), allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring an unreadable checkpoint at %s: %s", self.path, exc)
            return None
        meta = json.loads(bytes(data["meta"]).decode())
        state = {name: data[name] for name in _ARRAYS if name in data}
        state.update(meta)
        state["history"] = [IterationRecord(**r) for r in meta["history"]]
        return state

    def save(self, state):
        """Replace the saved state (one object write)."""
        meta = {k: v for k, v in state.items() if k not in _ARRAYS}
        meta["history"] = [r.__dict__ for r in state.get("history", [])]
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                 **{name: np.asarray(state[name]) for name in _ARRAYS if name in state})
        folder = self.path.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        if isinstance(self.fs, LocalFileSystem):
            # a local open("wb") truncates in place: a crash mid-write would leave a torn
            # state.npz that the rerun must ignore. Write a sibling and rename it (atomic).
            tmp = f"{folder}/.state-{uuid.uuid4().hex[:8]}.npz.tmp"
            with open(tmp, "wb") as f:
                f.write(buffer.getvalue())
            os.replace(tmp, self.path)
        else:  # an object store shows an object only once its upload is complete
            with self.fs.open(self.path, "wb") as f:
                f.write(buffer.getvalue())
        self.saves += 1

    def clear(self):
        """Remove the checkpoint (after the output is published)."""
        try:
            self.fs.rm(self.path.rsplit("/", 1)[0], recursive=True)
        except FileNotFoundError:
            pass
