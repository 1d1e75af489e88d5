"""Exported policies (policy.pt + policy_card.json from `simlab export`) from Python."""

import json
import os

import numpy as np


class Policy:
    """A TorchScript policy with its card's contract: observation and action layouts, the safe
    action an episode starts from, and (dreamer) a recurrent state per row.

        policy = simlab.load_policy("runs/cartpole/export/policy.pt")
        policy.reset(num_envs)
        actions = policy(obs)          # obs [num_envs, obs_dim] float32 -> [num_envs, act_dim]
    """

    def __init__(self, path):
        import torch  # Debian's python3-torch; only this part of simlab needs it

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: policy: no such policy file (write one with "
                                    "`simlab export --run runs/NAME --out DIR`: DIR/policy.pt)")
        self._torch = torch
        self.module = torch.jit.load(path)
        self.module.eval()
        card_file = os.path.join(os.path.dirname(path), "policy_card.json")
        if os.path.isfile(card_file):
            with open(card_file) as f:
                self.card = json.load(f)
        elif hasattr(self.module, "policy_card"):
            self.card = json.loads(self.module.policy_card)
        else:
            raise ValueError(f"{path}: no policy_card.json beside the policy and none inside it")
        self.observation_names = [e["name"] for e in self.card["observation"]["elements"]]
        self.action_names = [e["name"] for e in self.card["action"]["elements"]]
        elements = self.card["action"]["elements"]
        self.low = np.array([e.get("low", -1.0) for e in elements], np.float32)
        self.high = np.array([e.get("high", 1.0) for e in elements], np.float32)
        self.safe_action = np.array(
            [e.get("safe", float(np.clip(0.0, e.get("low", -1.0), e.get("high", 1.0))))
             for e in elements], np.float32)
        recurrent = (self.card.get("interface") or {}).get("recurrent")
        self.state_dim = int(recurrent["state_dim"]) if recurrent else 0
        self.action_repeat = int(self.card["action"].get("action_repeat", 1))
        self._prev = None
        self._state = None

    def reset(self, num_envs=1, rows=None):
        """Start episodes: every row (or `rows`) gets the safe action and the initial state."""
        if self._prev is None or rows is None:
            self._prev = np.tile(self.safe_action, (num_envs, 1))
            if self.state_dim:
                self._state = self._torch.zeros(num_envs, self.state_dim)
            return
        self._prev[rows] = self.safe_action
        if self.state_dim:
            self._state[self._torch.as_tensor(np.asarray(rows))] = 0

    def __call__(self, obs):
        """Actions [N, act_dim] float32 for observations [N, obs_dim]; remembers them as the
        previous actions of the next call."""
        torch = self._torch
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != len(self.observation_names):
            raise ValueError(f"obs: expected [N, {len(self.observation_names)}] float32 (the "
                             f"card's observation), got {list(obs.shape)}")
        if self._prev is None or self._prev.shape[0] != obs.shape[0]:
            self.reset(obs.shape[0])
        with torch.no_grad():
            o = torch.from_numpy(np.ascontiguousarray(obs))
            p = torch.from_numpy(self._prev)
            if self.state_dim:
                action, _, self._state = self.module(o, p, self._state)
            else:
                action, _ = self.module(o, p)
        self._prev = action.to(torch.float32).numpy().copy()
        return self._prev.copy()
