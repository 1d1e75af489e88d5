"""Spaces: gymnasium.spaces.Box when gymnasium is installed, else a minimal Box with the same
attributes (low, high, shape, dtype, sample, contains, seed) so the package works without it."""

import numpy as np

try:  # pragma: no cover - depends on the user's environment
    from gymnasium.spaces import Box  # noqa: F401

    HAVE_GYMNASIUM = True
except ImportError:  # Debian 12 has no gymnasium package
    HAVE_GYMNASIUM = False

    class Box:
        """A box in R^n: float32 bounds (infinite where unbounded), like gymnasium.spaces.Box."""

        def __init__(self, low, high, shape=None, dtype=np.float32, seed=None):
            self.dtype = np.dtype(dtype)
            shape = tuple(shape) if shape is not None else np.shape(low)
            self.low = np.broadcast_to(np.asarray(low, dtype=self.dtype), shape).copy()
            self.high = np.broadcast_to(np.asarray(high, dtype=self.dtype), shape).copy()
            self.shape = shape
            self._rng = np.random.default_rng(seed)

        def seed(self, seed=None):
            self._rng = np.random.default_rng(seed)
            return [seed]

        def sample(self):
            """Uniform where bounded, normal where unbounded, exponential where half-bounded."""
            low, high = self.low, self.high
            out = np.empty(self.shape, dtype=self.dtype)
            both = np.isfinite(low) & np.isfinite(high)
            out[both] = self._rng.uniform(low[both], high[both])
            none = ~np.isfinite(low) & ~np.isfinite(high)
            out[none] = self._rng.normal(size=int(none.sum()))
            lower = np.isfinite(low) & ~np.isfinite(high)
            out[lower] = low[lower] + self._rng.exponential(size=int(lower.sum()))
            upper = ~np.isfinite(low) & np.isfinite(high)
            out[upper] = high[upper] - self._rng.exponential(size=int(upper.sum()))
            return out

        def contains(self, x):
            x = np.asarray(x)
            return (
                x.shape == self.shape
                and np.can_cast(x.dtype, self.dtype, casting="same_kind")
                and bool(np.all(x >= self.low))
                and bool(np.all(x <= self.high))
            )

        __contains__ = contains

        def __repr__(self):
            return f"Box({self.low.min()}, {self.high.max()}, {self.shape}, {self.dtype})"


def box(info, batch=None):
    """A float32 Box from the engine's space info (names, low, high); `batch` adds a leading N."""
    low = np.asarray(info["low"], dtype=np.float32)
    high = np.asarray(info["high"], dtype=np.float32)
    if batch is not None:
        low = np.broadcast_to(low, (batch,) + low.shape).copy()
        high = np.broadcast_to(high, (batch,) + high.shape).copy()
    space = Box(low=low, high=high, dtype=np.float32)
    try:
        space.names = list(info["names"])  # element names, in order
    except AttributeError:  # pragma: no cover
        pass
    return space
