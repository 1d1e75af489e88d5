// Rollout streaming: simulation overlaps learning, and the schedule (not the timing) decides which
// weights collect which data.
//
//   learner thread:  publish(v0) -> next() = chunk 0 -> train -> publish(v1) -> next() = chunk 1
//                    -> train -> ...
//   actor thread:    chunk k: wait for weights version max(0, k - lag) -> policy.load(weights)
//                    -> T steps of the VectorEnv (policy.act on each observation) -> bounded queue
//
// With lag 1 the actor collects chunk k while the learner trains on chunk k - 1 (its weights are
// one iteration old, as in any asynchronous actor-learner); with lag 0 the two alternate. Chunk k
// always uses version max(0, k - lag) and samples with its own generator seeded from (seed, k), so
// a run is the same however the threads interleave. At most lag + 1 chunks wait in the queue.
//
// Chunk indices and weight versions count from the start of the run, so a stream can pick up where
// a checkpoint left off: the actor attaches a StreamSnapshot (the envs' episodes, the policy's
// state) to the chunks a checkpoint follows, and a stream started from one continues exactly.
// `serial` keeps the two threads from running at once (one core: --threads 1): the actor starts
// a chunk only while the learner waits in next(); the schedule, and so the data, is unchanged.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "engine/vector_env.h"

namespace simlab::learners {

// What the actor thread runs. Implementations own their copy of the weights.
class StreamPolicy {
 public:
  virtual ~StreamPolicy() = default;
  // What acting carries from one step to the next (a recurrent state, counters), as tensors, for
  // checkpoints; empty when nothing.
  virtual std::vector<torch::Tensor> state() const { return {}; }
  virtual void set_state(const std::vector<torch::Tensor>& /*state*/) {}
  // The weights the learner published, as it published them.
  virtual void load(const std::vector<torch::Tensor>& weights) = 0;
  // Actions [N, act] for observations [N, obs] and, with images on, the frames [N, 3, 64, 64]
  // uint8 of the same step (else undefined); first [N] is 1 where an env starts an episode
  // (recurrent state resets there). Sample only from `generator`.
  virtual torch::Tensor act(const torch::Tensor& obs, const torch::Tensor& image,
                            const torch::Tensor& first, at::Generator& generator) = 0;
};

// Where the actor stands after a chunk: what a stream needs to go on from there.
struct StreamSnapshot {
  std::vector<engine::EnvSnapshot> envs;  // VectorEnv::snapshot()
  std::vector<torch::Tensor> policy;      // StreamPolicy::state()
  torch::Tensor first;                    // [N] 1 where the next observation starts an episode
};

// T steps of N envs, as the actor saw them.
struct Chunk {
  std::int64_t index = 0;    // in this stream, from 0
  std::int64_t version = 0;  // the weights that collected it
  torch::Tensor obs;         // [T, N, obs] what the policy acted on
  torch::Tensor first;       // [T, N] 1 where obs starts an episode
  torch::Tensor action;      // [T, N, act] what the policy returned
  torch::Tensor reward;      // [T, N] for the step
  torch::Tensor terminated;  // [T, N] 1 where the step ended the episode in a terminal state
  torch::Tensor truncated;   // [T, N] 1 where it was cut short (time limit, divergence)
  torch::Tensor final_obs;   // [T, N, obs] the episode's last observation where it ended
  torch::Tensor next_obs;    // [N, obs] after the last step (the next chunk's first obs)
  // With images on: [T, N, 3, 64, 64] uint8 frames of obs (rendered after each reset and step;
  // an episode's final observation has no frame: the env has reset when the step returns).
  torch::Tensor image;
  // The actor's time stepping (and rendering, with images on), acting and waiting.
  double sim_s = 0, policy_s = 0, wait_s = 0;
  // After the chunk, when StreamConfig::snapshot_after said so.
  std::optional<StreamSnapshot> snapshot;
};

struct StreamConfig {
  int steps = 50;                // T: env steps per env per chunk
  int lag = 1;                   // 0 or 1, see above
  std::int64_t first_chunk = 0;  // the index of this stream's first chunk in the run
  std::int64_t chunks = 1;       // the actor stops after this many
  std::uint64_t seed = 0;        // chunk k samples with a generator seeded from (seed, k)
  bool serial = false;           // never run the actor while the learner works (see above)
  // Chunk k (run index) carries a StreamSnapshot when this says so (the env must have been made
  // with snapshots on).
  std::function<bool(std::int64_t chunk)> snapshot_after;
  // Go on from here instead of resetting the env: its envs are restored, the policy's state set.
  const StreamSnapshot* start = nullptr;
  // Images on when set: the actor thread calls it after each reset and step for the frames
  // [N, 3, 64, 64] uint8 of every env (e.g. FrameRenderer::render), so rendering overlaps learning.
  std::function<torch::Tensor(const engine::VectorEnv&)> frames;
};

// A StreamSnapshot in a checkpoint, under keys starting with `prefix`.
void write_stream_snapshot(torch::serialize::OutputArchive& archive, const std::string& prefix,
                           const StreamSnapshot& snapshot);
StreamSnapshot read_stream_snapshot(torch::serialize::InputArchive& archive,
                                    const std::string& prefix);

class RolloutStream {
 public:
  // Resets `env` and starts the actor thread; both must outlive the stream.
  RolloutStream(engine::VectorEnv& env, StreamPolicy& policy, StreamConfig config);
  ~RolloutStream();  // stops the actor and joins it
  RolloutStream(const RolloutStream&) = delete;
  RolloutStream& operator=(const RolloutStream&) = delete;

  // The next weights version: max(0, first_chunk - lag), then one more per call. The tensors must
  // not change afterwards: pass clones.
  void publish(std::vector<torch::Tensor> weights);
  // The next chunk, in order; blocks until the actor has it and rethrows what the actor threw.
  Chunk next();
  // Learner time spent blocked in next(): starvation.
  double learner_wait_s() const { return learner_wait_s_; }

 private:
  void actor_loop();

  engine::VectorEnv& env_;
  StreamPolicy& policy_;
  StreamConfig config_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::int64_t, std::vector<torch::Tensor>> weights_;  // version -> weights
  std::int64_t published_ = 0;                                  // the next version
  std::deque<Chunk> ready_;
  std::int64_t taken_ = 0;  // chunks handed to the learner
  bool learner_waiting_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  double learner_wait_s_ = 0;
  std::thread actor_;
};

}  // namespace simlab::learners
