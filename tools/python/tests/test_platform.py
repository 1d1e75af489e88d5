"""The rest of the platform from Python: scenes, exported policies, datasets, the example."""

import os
import subprocess
import sys

import numpy as np
import pytest

import simlab
from conftest import run


def test_scenes_and_scene_layouts():
    assert "cartpole-balance" in simlab.scenes()
    s = simlab.Scene("push")
    assert s.name == "push" and s.variants > 1
    assert len(s.observation["names"]) == len(s.observation["low"])
    assert s.action["names"]
    with pytest.raises(FileNotFoundError):
        simlab.Scene("no-such-scene")


def test_an_exported_policy_runs_with_its_cards_contract(tmp_path, simlab_bin):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    run(simlab_bin, "train", "--scene", "cartpole-balance", "--steps", 2048, "--envs", 8,
        "--horizon", 64, "--threads", 1, "--out", out)
    run(simlab_bin, "export", "--run", out, "--out", tmp_path / "policy", "--eval-episodes", 0)
    policy = simlab.load_policy(tmp_path / "policy" / "policy.pt")
    assert policy.observation_names == simlab.make_vec("cartpole-balance", 1).single_observation_space.names
    envs = simlab.make_vec("cartpole-balance", 4, seed=1)
    obs, _ = envs.reset()
    policy.reset(4)
    a = policy(obs)
    assert a.shape == (4, 1) and a.dtype == np.float32
    assert np.all(a >= policy.low) and np.all(a <= policy.high)
    envs.step(a)
    with pytest.raises(ValueError, match=r"obs: expected \[N, 4\]"):
        policy(np.zeros((2, 3), np.float32))
    with pytest.raises(FileNotFoundError):
        simlab.load_policy(tmp_path / "nope.pt")


def test_open_dataset_iterates_episodes_lazily(tmp_path, simlab_bin):
    pytest.importorskip("h5py")
    out = tmp_path / "data"
    run(simlab_bin, "gen", "--scene", "cartpole-balance", "--episodes", 3, "--envs", 2,
        "--max-steps", 20, "--seed", 4, "--out", out)
    with simlab.open_dataset(out) as data:
        assert len(data) == 3
        lengths = [len(e) for e in data]
        assert lengths == [20, 20, 20]
        e = data[1]
        assert e.actions.shape == (20, 1) and e.obs.shape == (20, 4)
        assert e.obs.dtype == np.float32
        # One key per observation term; `obs` puts them side by side in the policy's order.
        assert data.obs_terms == ["joint_pos", "joint_vel"]
        assert e["obs/joint_pos"].shape == (20, 2)
        assert np.array_equal(e.obs[1:], e.next_obs[:-1])
        # robomimic's env metadata: gym type, and kwargs that rebuild the env that made demo_0.
        env_args = data.env_args
        assert env_args["type"] == 2 and env_args["env_name"] == "simlab/cartpole-balance-v0"
        assert env_args["simlab"]["scene_spec"].startswith("#")
        env = simlab.make(**env_args["env_kwargs"])
        first, _ = env.reset()
        assert np.array_equal(first, data[0].obs[0])
    with pytest.raises(FileNotFoundError):
        simlab.open_dataset(tmp_path / "none")


def test_the_ppo_example_runs_its_first_iterations():
    pytest.importorskip("torch")
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "ppo.py")
    r = subprocess.run([sys.executable, example, "--iterations", "2", "--envs", "16"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "iteration 2" in r.stdout
