"""Datasets written by `simlab gen` (robomimic's layout, HDF5 shards), read lazily with h5py."""

import glob
import json
import os

import numpy as np


def _obs_terms(data):
    """The observation terms a file's writer recorded (data.attrs simlab_obs_terms), in the order
    they make up the policy's observation vector; files from before per-term keys: "state"."""
    if "simlab_obs_terms" in data.attrs:
        return [t["key"] for t in json.loads(data.attrs["simlab_obs_terms"])]
    return ["state"]


class Episode:
    """One episode's arrays, read when first touched: obs/<term> and next_obs/<term> (one key per
    observation term), actions, rewards, dones, states, and images (obs/rgb, obs/depth, obs/seg)
    where the dataset has them. `obs` and `next_obs` are the whole observation vectors [T, dim]:
    the terms side by side, as the policy saw them."""

    def __init__(self, group, name, file, terms=("state",)):
        self._group = group
        self._terms = list(terms)
        self.name = name
        self.file = file
        self.attrs = dict(group.attrs)
        self.env_args = json.loads(self.attrs["env_args"]) if "env_args" in self.attrs else {}

    def __getitem__(self, key):
        return np.asarray(self._group[key])

    def keys(self):
        out = []
        self._group.visit(lambda k: out.append(k) if hasattr(self._group[k], "shape") else None)
        return out

    def __getattr__(self, key):
        if key in ("obs", "next_obs"):
            parts = [np.asarray(self._group[f"{key}/{t}"]) for t in self._terms
                     if f"{key}/{t}" in self._group]
            if parts:
                return np.concatenate(parts, axis=1)
        elif key in self._group:
            return np.asarray(self._group[key])
        raise AttributeError(key)

    def __len__(self):
        return int(self._group["actions"].shape[0])


class Dataset:
    """The episodes of a shard file or of a `simlab gen` folder (every shard-*.hdf5 in it), in
    episode order; files are opened once and arrays read only when an episode's field is used."""

    def __init__(self, path):
        import h5py  # Debian's python3-h5py

        path = os.fspath(path)
        if os.path.isdir(path):
            files = sorted(glob.glob(os.path.join(path, "shard-*.hdf5")))
            if not files:
                raise FileNotFoundError(f"{path}: no shard-*.hdf5 files (write them with `simlab gen`)")
        elif os.path.isfile(path):
            files = [path]
        else:
            raise FileNotFoundError(f"{path}: no such dataset file or folder")
        self._files = [h5py.File(f, "r") for f in files]
        self._index = []
        for f, h in zip(files, self._files):
            if "data" not in h:
                raise ValueError(f"{f}: not a simlab dataset (no 'data' group)")
            for name in h["data"]:
                if name.startswith("demo_"):
                    self._index.append((int(name[5:]), h, name, f))
        self._index.sort(key=lambda e: e[0])
        data = self._files[0]["data"]
        self.env_args = json.loads(data.attrs["env_args"]) if "env_args" in data.attrs else {}
        self.obs_terms = _obs_terms(data)

    def __len__(self):
        return len(self._index)

    def __getitem__(self, i):
        _, h, name, f = self._index[i]
        return Episode(h["data"][name], name, f, self.obs_terms)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def close(self):
        for h in self._files:
            h.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
