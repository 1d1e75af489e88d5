#!/usr/bin/env python3
"""PPO in plain PyTorch on simlab's Python API: cartpole-balance to a mean return >= 900.

    PYTHONPATH=build/tools/python python3 tools/python/examples/ppo.py

The recipe is simlab train's (--algo ppo --envs 256 --horizon 32): a Gaussian MLP policy (64-64,
tanh), GAE, the clipped objective, observation normalization and reward scaling. Observations and
rewards come straight from the engine's buffers (torch.from_numpy: no copies); actions go back as
a float32 numpy array the engine reads in place.
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

import simlab


class RunningNorm:
    """Running mean and variance (Chan et al.'s parallel update)."""

    def __init__(self, shape):
        self.mean = torch.zeros(shape, dtype=torch.float64)
        self.var = torch.ones(shape, dtype=torch.float64)
        self.count = 1e-4

    def update(self, x):
        x = x.to(torch.float64)
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def normalize(self, x):
        return ((x - self.mean.float()) / torch.sqrt(self.var.float() + 1e-8)).clamp(-10, 10)


class ActorCritic(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden=64, init_log_std=-0.5):
        super().__init__()

        def mlp(out, gain):
            layers = [nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                      nn.Linear(hidden, out)]
            for layer in layers:
                if isinstance(layer, nn.Linear):
                    nn.init.orthogonal_(layer.weight, np.sqrt(2))
                    nn.init.zeros_(layer.bias)
            nn.init.orthogonal_(layers[-1].weight, gain)
            return nn.Sequential(*layers)

        self.actor, self.critic = mlp(act_dim, 0.01), mlp(1, 1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), init_log_std))

    def dist(self, obs):
        return torch.distributions.Normal(self.actor(obs), self.log_std.exp())

    def value(self, obs):
        return self.critic(obs).squeeze(-1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scene", default="cartpole-balance")
    p.add_argument("--envs", type=int, default=256)
    p.add_argument("--horizon", type=int, default=32)
    p.add_argument("--iterations", type=int, default=200, help="rollout + update rounds")
    p.add_argument("--target", type=float, default=900, help="stop once the mean return reaches this")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    gamma, lam, clip, epochs, minibatches = 0.99, 0.95, 0.2, 4, 4

    envs = simlab.make_vec(args.scene, args.envs, seed=args.seed, threads=args.threads)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = envs.single_action_space.shape[0]
    low = torch.from_numpy(envs.single_action_space.low)
    high = torch.from_numpy(envs.single_action_space.high)
    model = ActorCritic(obs_dim, act_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, eps=1e-5)
    obs_norm, ret_norm = RunningNorm(obs_dim), RunningNorm(())
    n, T = args.envs, args.horizon
    obs_buf = torch.zeros(T, n, obs_dim)
    act_buf, logp_buf = torch.zeros(T, n, act_dim), torch.zeros(T, n)
    rew_buf, done_buf, val_buf = torch.zeros(T, n), torch.zeros(T, n), torch.zeros(T + 1, n)

    obs_np, _ = envs.reset()
    obs = torch.from_numpy(obs_np)  # a view of the engine's buffer: read before the next step
    episode_return = np.zeros(n)
    discounted = torch.zeros(n, dtype=torch.float64)
    recent, steps, start = [], 0, time.time()
    for iteration in range(1, args.iterations + 1):
        for t in range(T):
            obs_norm.update(obs)
            o = obs_norm.normalize(obs)
            with torch.no_grad():
                d = model.dist(o)
                action = d.sample()
                logp_buf[t], val_buf[t] = d.log_prob(action).sum(-1), model.value(o)
            obs_buf[t], act_buf[t] = o, action
            applied = torch.max(torch.min(action, high), low).numpy()
            obs_np, reward, terminated, truncated, infos = envs.step(applied)
            reward_t = torch.from_numpy(reward).clone()
            done = terminated | truncated
            episode_return += reward
            for i in np.flatnonzero(done):
                recent = (recent + [episode_return[i]])[-20:]
                episode_return[i] = 0
            discounted = discounted * gamma + reward_t.double()
            ret_norm.update(discounted.unsqueeze(1))
            discounted[torch.from_numpy(done)] = 0
            reward_t = (reward_t / np.sqrt(ret_norm.var.item() + 1e-8)).clamp(-10, 10)
            cut = np.flatnonzero(truncated & ~terminated)
            if len(cut):  # time limits: bootstrap from the episode's last observation
                final = torch.from_numpy(infos["final_obs"][cut])
                with torch.no_grad():
                    reward_t[cut] += gamma * model.value(obs_norm.normalize(final))
            rew_buf[t], done_buf[t] = reward_t, torch.from_numpy(done).float()
            obs = torch.from_numpy(obs_np)
            steps += n
        with torch.no_grad():
            val_buf[T] = model.value(obs_norm.normalize(obs))
            adv, last = torch.zeros(T, n), torch.zeros(n)
            for t in reversed(range(T)):
                nonterminal = 1 - done_buf[t]
                delta = rew_buf[t] + gamma * val_buf[t + 1] * nonterminal - val_buf[t]
                last = delta + gamma * lam * nonterminal * last
                adv[t] = last
            returns = adv + val_buf[:T]
        b_obs, b_act = obs_buf.reshape(T * n, -1), act_buf.reshape(T * n, -1)
        b_logp, b_adv, b_ret = logp_buf.reshape(-1), adv.reshape(-1), returns.reshape(-1)
        size = T * n // minibatches
        for _ in range(epochs):
            for idx in torch.randperm(T * n).split(size):
                d = model.dist(b_obs[idx])
                ratio = (d.log_prob(b_act[idx]).sum(-1) - b_logp[idx]).exp()
                a = b_adv[idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                policy_loss = -torch.min(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a).mean()
                value_loss = (model.value(b_obs[idx]) - b_ret[idx]).pow(2).mean()
                loss = policy_loss + 0.5 * value_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 0.5)
                optimizer.step()
        mean = float(np.mean(recent)) if recent else float("nan")
        print(f"iteration {iteration}  env steps {steps}  mean return {mean:.1f}  "
              f"{steps / (time.time() - start):.0f} env-steps/s  {time.time() - start:.1f} s",
              flush=True)
        if recent and len(recent) == 20 and mean >= args.target:
            print(f"reached {mean:.1f} >= {args.target:g} after {steps} env steps in "
                  f"{time.time() - start:.1f} s")
            break
    envs.close()


if __name__ == "__main__":
    main()
