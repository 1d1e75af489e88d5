"""make_vec against the C++ VectorEnv: bit-identical arrays, zero copies, async, errors."""

import numpy as np
import pytest

import simlab
from simlab import _simlab


def actions_for(steps, n, act, seed=7):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(steps, n, act)).astype(np.float32)


@pytest.mark.parametrize("scene,threads", [("cartpole-balance", 1), ("cartpole-balance", 2),
                                           ("reacher", 2)])
def test_arrays_equal_the_cpp_vector_env_bit_for_bit(scene, threads):
    n, steps = 5, 240  # cartpole-balance's random episodes end within this: resets and final obs
    envs = simlab.make_vec(scene, n, seed=11, threads=threads, copy=True)
    act = envs.single_action_space.shape[0]
    a = actions_for(steps, n, act)
    ref = _simlab._reference(scene, n, 11, 1, a)
    obs, _ = envs.reset()
    assert np.array_equal(obs, ref["obs"][0])
    ended = 0
    for t in range(steps):
        obs, rew, term, trunc, infos = envs.step(a[t])
        assert obs.tobytes() == ref["obs"][t + 1].tobytes(), t
        assert rew.tobytes() == ref["reward"][t].tobytes(), t
        assert np.array_equal(term, ref["terminated"][t]) and np.array_equal(trunc, ref["truncated"][t])
        done = infos["_final_obs"]
        assert np.array_equal(done, term | trunc)
        assert infos["final_obs"][done].tobytes() == ref["final_obs"][t][done].tobytes()
        ended += int(done.sum())
    if scene == "cartpole-balance":
        assert ended > 0, "the rollout should include episode ends"


def test_views_are_the_engines_buffers_and_reach_torch_without_a_copy():
    envs = simlab.make_vec("cartpole-balance", 4, seed=1)
    obs, _ = envs.reset()
    address = envs.buffer_address("obs")
    assert obs.__array_interface__["data"][0] == address
    a = np.zeros((4, 1), np.float32)
    obs2, rew, term, trunc, infos = envs.step(a)
    assert obs2.__array_interface__["data"][0] == address  # the same buffer, step after step
    assert np.shares_memory(obs, obs2)
    assert rew.__array_interface__["data"][0] == envs.buffer_address("reward")
    assert term.dtype == np.bool_ and term.__array_interface__["data"][0] == envs.buffer_address("terminated")
    copied = simlab.make_vec("cartpole-balance", 4, seed=1, copy=True)
    owned, _ = copied.reset()
    assert owned.__array_interface__["data"][0] != copied.buffer_address("obs")
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(obs2)
    assert t.data_ptr() == address
    d = torch.utils.dlpack.from_dlpack(obs2)
    assert d.data_ptr() == address


def test_spaces_follow_the_scene():
    envs = simlab.make_vec("reacher", 3)
    s = envs.single_action_space
    assert s.dtype == np.float32 and s.shape == (2,)
    assert envs.action_space.shape == (3, 2)
    assert envs.single_observation_space.shape[0] == len(envs.single_observation_space.names)
    assert np.all(s.low == -1) and np.all(s.high == 1)
    s.seed(3)
    x = s.sample()
    assert s.contains(x)
    assert envs.metadata["autoreset_mode"] in ("SameStep", getattr(envs.metadata["autoreset_mode"], "value", None))


def test_async_equals_sync_per_env():
    n, batch, act, rounds = 6, 2, 1, 60
    a = actions_for(rounds + 1, n, act, seed=3)
    sync = simlab.make_vec("cartpole-balance", n, seed=5, threads=2, copy=True)
    first, _ = sync.reset()
    per_env = {i: [] for i in range(n)}
    for t in range(rounds):
        obs, rew, *_ = sync.step(a[t])
        for i in range(n):
            per_env[i].append((obs[i].copy(), rew[i]))
    envs = simlab.make_vec("cartpole-balance", n, seed=5, threads=2, batch_size=batch, copy=True)
    assert envs.batch_size == batch
    envs.async_reset()
    seen = np.zeros(n, bool)
    done = np.zeros(n, int)  # steps each env has finished
    checked = 0
    while done.min() < rounds:
        obs, rew, term, trunc, infos = envs.recv()
        ids = infos["env_id"].astype(np.int32)
        for row, i in enumerate(ids):
            if not seen[i]:  # ready after async_reset: its first observation
                seen[i] = True
                assert np.array_equal(obs[row], first[i])
            else:
                done[i] += 1
                want_obs, want_rew = per_env[i][done[i] - 1]
                assert np.array_equal(obs[row], want_obs) and rew[row] == want_rew, (i, done[i])
                checked += 1
        envs.send(np.stack([a[done[i], i] for i in ids]), ids)
    assert checked >= n * rounds


def test_errors_name_the_expected_layout_and_nan_actions_stay_in_their_env():
    envs = simlab.make_vec("cartpole-balance", 3, seed=2)
    envs.reset()
    with pytest.raises(TypeError, match=r"actions: expected \[3, action_dim=1\] float32, got dtype float64"):
        envs.step(np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"actions: expected \[3, action_dim=1\] float32, got \[2, 1\]"):
        envs.step(np.zeros((2, 1), np.float32))
    with pytest.raises(TypeError, match="C-contiguous"):
        envs.step(np.zeros((3, 2), np.float32)[:, :1])
    with pytest.raises(FileNotFoundError, match="did you mean 'cartpole-balance'"):
        simlab.make_vec("cartpole-balanse", 2)
    with pytest.raises(ValueError, match="envs: must be >= 1"):
        simlab.make_vec("cartpole-balance", 0)
    with pytest.raises(ValueError, match="randomization: 'wide'"):
        simlab.make_vec("cartpole-balance", 1, randomization="wide")
    with pytest.raises(ValueError, match="backend: 'bulet'"):
        simlab.make_vec("cartpole-balance", 1, backend="bulet")
    a = np.zeros((3, 1), np.float32)
    a[1, 0] = np.nan
    obs, rew, term, trunc, infos = envs.step(a)
    assert trunc[1] and not trunc[0] and not trunc[2]
    assert infos["status"][1] == 2  # kInvalidAction
    assert np.all(np.isfinite(obs))
    assert envs.stats()["invalid_actions"] == 1


def test_reset_with_a_seed_and_the_context_manager():
    with simlab.make_vec("cartpole-balance", 2, seed=0, copy=True) as envs:
        a0, _ = envs.reset(seed=9)
        b = simlab.make_vec("cartpole-balance", 2, seed=9, copy=True)
        b0, _ = b.reset()
        assert np.array_equal(a0, b0)
    assert envs.closed


def test_single_env_follows_gymnasiums_env_contract():
    env = simlab.make("cartpole-balance", seed=4)
    obs, info = env.reset()
    assert obs.shape == env.observation_space.shape
    steps, ended = 0, False
    while not ended and steps < 2000:
        obs, r, terminated, truncated, info = env.step(np.array([1.0], np.float32))
        ended = terminated or truncated
        steps += 1
    assert ended and isinstance(r, float)
    first, _ = env.reset()
    assert first.shape == obs.shape and not np.array_equal(first, obs)


@pytest.mark.skipif(not _simlab.has_renderer(), reason="built without Vulkan")
def test_render_returns_uint8_frames_from_the_batch_renderer():
    envs = simlab.make_vec("push", 3, render=(32, 24))
    envs.reset()
    frames = envs.render()
    assert frames.shape == (3, 24, 32, 3) and frames.dtype == np.uint8
    assert frames.std() > 0
    named = simlab.make_vec("cartpole-balance", 2, render="side")
    named.reset()
    assert named.render().shape == (2, 128, 128, 3)
    with pytest.raises(ValueError, match="camera: scene 'cartpole-balance' has no camera 'top'"):
        simlab.make_vec("cartpole-balance", 2, render="top")
    with pytest.raises(ValueError, match="render"):
        simlab.make_vec("cartpole-balance", 1).render()


def test_a_bad_spec_file_raises_the_clis_located_message(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "bad"\nmodel = "cartpole.xml"\ncontrol_hz = 100\n'
                    'episode_seconds = 10\nbogus_key = 1\n')
    with pytest.raises(ValueError) as e:
        simlab.make_vec(str(spec), 1)
    assert "bad.toml:5" in str(e.value) and "bogus_key" in str(e.value)


def test_with_gymnasium_the_classes_subclass_its_vector_env_and_spaces(tmp_path):
    """Debian 12 has no gymnasium: a stand-in with the names simlab uses checks the wiring."""
    import subprocess
    import sys

    pkg = tmp_path / "gymnasium"
    (pkg / "vector").mkdir(parents=True)
    (pkg / "spaces").mkdir()
    (pkg / "__init__.py").write_text(
        "import importlib\nfrom . import spaces, vector\nclass Env: pass\nregistry = {}\n"
        "def register(id, entry_point, kwargs=None):\n    registry[id] = (entry_point, kwargs or {})\n"
        "def make(id, **kw):\n    entry, preset = registry[id]\n    mod, cls = entry.split(':')\n"
        "    return getattr(importlib.import_module(mod), cls)(**{**preset, **kw})\n")
    (pkg / "vector" / "__init__.py").write_text(
        "import enum\nclass AutoresetMode(enum.Enum):\n    NEXT_STEP = 'NextStep'\n"
        "    SAME_STEP = 'SameStep'\nclass VectorEnv: pass\n")
    (pkg / "spaces" / "__init__.py").write_text(
        "import numpy as np\nclass Box:\n    def __init__(self, low, high, shape=None, dtype=np.float32):\n"
        "        self.low, self.high, self.dtype = np.asarray(low, dtype), np.asarray(high, dtype), dtype\n"
        "        self.shape = self.low.shape\n")
    code = ("import gymnasium, simlab, numpy as np\n"
            "e = simlab.make_vec('cartpole-balance', 2)\n"
            "assert simlab.HAVE_GYMNASIUM\n"
            "assert isinstance(e, gymnasium.vector.VectorEnv)\n"
            "assert isinstance(e.single_action_space, gymnasium.spaces.Box)\n"
            "assert e.metadata['autoreset_mode'] == gymnasium.vector.AutoresetMode.SAME_STEP\n"
            "assert isinstance(simlab.make('cartpole-balance'), gymnasium.Env)\n"
            # The ids datasets name in env_args (robomimic calls gym.make with them).
            "g = gymnasium.make('simlab/cartpole-balance-v0', seed=3, randomization='train')\n"
            "assert isinstance(g, simlab.Env) and g.reset()[0].shape == (4,)\n"
            "s = gymnasium.make('simlab/Scene-v0', scene='push')\n"
            "assert s.action_space.shape == (3,)\n"
            "e.reset(); e.step(np.zeros((2, 1), np.float32)); print('ok')\n")
    import os
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
