"""Batched envs with Gymnasium's vector contract (same-step autoreset) and zero-copy arrays."""

import numpy as np

from . import _simlab
from .spaces import HAVE_GYMNASIUM, box

if HAVE_GYMNASIUM:  # pragma: no cover - depends on the user's environment
    import gymnasium

    _VectorBase = gymnasium.vector.VectorEnv
    _EnvBase = gymnasium.Env
    try:
        _SAME_STEP = gymnasium.vector.AutoresetMode.SAME_STEP
    except AttributeError:
        _SAME_STEP = "SameStep"
else:
    _VectorBase = object
    _EnvBase = object
    _SAME_STEP = "SameStep"


def _copy_or_view(x, copy):
    return np.array(x, copy=True) if copy else x


class VectorEnv(_VectorBase):
    """`num_envs` envs of a scene, stepped together on simlab's C++ threads.

    Autoreset mode: same-step. When an env's episode ends in step(), the returned observation is
    already the next episode's first one; the episode's last observation is in
    infos["final_obs"][i] where infos["_final_obs"][i] is True.

    Arrays are read-only views of the engine's buffers, valid until the next call that steps,
    resets or renders (pass copy=True to get owned arrays). Actions are read from any C-contiguous
    float32 array of shape [num_envs, action_dim] without a copy.
    """

    metadata = {"autoreset_mode": _SAME_STEP, "render_modes": ["rgb_array"]}

    def __init__(self, scene, num_envs, *, seed=0, backend="mujoco", randomization="train",
                 threads=0, render=None, batch_size=0, copy=False):
        width = height = 0
        camera = ""
        if isinstance(render, str):
            camera, width, height = render, 128, 128
        elif render is not None:
            width, height = (int(v) for v in render)
        self._envs = _simlab.Envs(scene, int(num_envs), seed=int(seed), backend=backend,
                                  randomization=randomization, threads=int(threads),
                                  batch_size=int(batch_size), width=width, height=height,
                                  camera=camera)
        self._copy = copy
        self.num_envs = self._envs.num_envs
        self.render_mode = "rgb_array" if render is not None else None
        self.single_observation_space = box(self._envs.observation)
        self.single_action_space = box(self._envs.action)
        self.observation_space = box(self._envs.observation, self.num_envs)
        self.action_space = box(self._envs.action, self.num_envs)
        self.spec = None
        self.closed = False
        self._views = self._envs.batch()

    # Gymnasium's VectorEnv API -------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        """Start every env's episode; a seed makes every env again from it."""
        if seed is not None:
            self._envs.reseed(int(seed))
            self._views = self._envs.batch()
        self._envs.reset()
        return _copy_or_view(self._views["obs"], self._copy), {}

    def step(self, actions):
        """(obs, rewards, terminations, truncations, infos) for actions [num_envs, action_dim]."""
        self._envs.step(actions)
        v = self._views
        done = v["terminated"] | v["truncated"]
        infos = {
            "final_obs": _copy_or_view(v["final_obs"], self._copy),
            "_final_obs": done,
            "episode_step": _copy_or_view(v["episode_step"], self._copy),
            "status": _copy_or_view(v["status"], self._copy),
        }
        c = self._copy
        return (_copy_or_view(v["obs"], c), _copy_or_view(v["reward"], c),
                _copy_or_view(v["terminated"], c), _copy_or_view(v["truncated"], c), infos)

    def render(self):
        """Every env from the scene's camera (or `render`'s): uint8 [num_envs, H, W, 3]."""
        self._envs.render()
        return _copy_or_view(self._envs.frames(), self._copy)

    def close(self, **kwargs):
        self._envs = None
        self._views = None
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # EnvPool-style asynchronous API --------------------------------------------------------------
    def async_reset(self):
        """Reset every env and mark all of them ready for the first recv()."""
        self._envs.async_reset()

    def send(self, actions, env_ids):
        """Queue steps for env_ids [k] with actions [k, action_dim]; returns at once."""
        self._envs.send(actions, np.asarray(env_ids))

    def recv(self):
        """The first batch_size envs to finish: (obs, rewards, terminations, truncations, infos),
        infos["env_id"] saying which env each row is."""
        self._envs.recv()
        v = self._envs.recv_batch()
        c = self._copy
        done = v["terminated"] | v["truncated"]
        infos = {"env_id": _copy_or_view(v["env_id"], c),
                 "final_obs": _copy_or_view(v["final_obs"], c), "_final_obs": done}
        return (_copy_or_view(v["obs"], c), _copy_or_view(v["reward"], c),
                _copy_or_view(v["terminated"], c), _copy_or_view(v["truncated"], c), infos)

    # simlab extras -------------------------------------------------------------------------------
    @property
    def batch_size(self):
        return self._envs.batch_size

    def stats(self):
        """Counters over every env: steps, episodes, diverged, invalid_actions, overflows."""
        return self._envs.stats()

    def buffer_address(self, field):
        """Where the engine keeps a batch field (obs, final_obs, reward, terminated, truncated)."""
        return self._envs.buffer_address(field)


class Env(_EnvBase):
    """One env with Gymnasium's Env contract: after an episode ends, call reset()."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, scene, *, seed=0, backend="mujoco", randomization="train", render=None):
        self._vec = VectorEnv(scene, 1, seed=seed, backend=backend, randomization=randomization,
                              threads=1, render=render, copy=True)
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space
        self.render_mode = self._vec.render_mode
        self._ended = False

    def reset(self, *, seed=None, options=None):
        if seed is not None or not self._ended:
            obs, _ = self._vec.reset(seed=seed)
        else:  # the vector env started the next episode when this one ended
            obs = np.array(self._vec._views["obs"], copy=True)
        self._ended = False
        return obs[0], {}

    def step(self, action):
        action = np.ascontiguousarray(action, dtype=np.float32).reshape(1, -1)
        obs, reward, terminated, truncated, infos = self._vec.step(action)
        self._ended = bool(terminated[0] or truncated[0])
        if self._ended:
            obs = infos["final_obs"]
        info = {"episode_step": int(infos["episode_step"][0]), "status": int(infos["status"][0])}
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self):
        return self._vec.render()[0]

    def close(self):
        self._vec.close()
