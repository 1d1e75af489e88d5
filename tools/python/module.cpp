// simlab._simlab: the compiled half of the Python package. It hands out the engine's batch buffers
// as numpy views (no copies), reads actions straight from the caller's float32 array, releases the
// GIL while envs step and render, and turns simlab::Error into ValueError / FileNotFoundError with
// the same located message the CLI prints. The Gymnasium-facing classes are Python (simlab/*.py).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <span>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/physics/backend.h"
#include "engine/vector_env.h"
#include "scenes/scene.h"
#include "tools/app/run.h"
#ifdef SIMLAB_HAS_RENDER
#include "engine/render/batch_renderer.h"
#include "scenes/render_camera.h"
#endif

namespace py = pybind11;

namespace simlab::python {
namespace {

[[noreturn]] void type_error(const std::string& message) {
  throw py::type_error(message);
}

// A numpy view of the `shape` elements at `data`, kept alive by `owner`. Writable, so that DLPack
// (which cannot mark an export read-only) and torch.from_numpy take it without a copy.
template <class T>
py::array view(const T* data, std::vector<py::ssize_t> shape, py::handle owner,
               const py::dtype& dtype = py::dtype::of<T>()) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = static_cast<py::ssize_t>(sizeof(T));
  for (std::size_t k = shape.size(); k-- > 0;) {
    strides[k] = stride;
    stride *= shape[k];
  }
  return py::array(dtype, shape, strides, data, owner);
}

// `array` as float32 [rows, cols], C-contiguous, without a copy; a TypeError or ValueError naming
// the expected layout otherwise.
std::span<const float> float_rows(const py::array& array, py::ssize_t rows, py::ssize_t cols,
                                  const char* what, const std::string& layout) {
  if (!array.dtype().is(py::dtype::of<float>()))
    type_error(std::string(what) + ": expected " + layout + " float32, got dtype " +
               py::str(array.dtype()).cast<std::string>());
  if (!(array.flags() & py::array::c_style))
    type_error(std::string(what) + ": expected a C-contiguous " + layout +
               " float32 array (numpy.ascontiguousarray)");
  const bool shaped = (array.ndim() == 2 && array.shape(0) == rows && array.shape(1) == cols) ||
                      (array.ndim() == 1 && rows == 1 && array.shape(0) == cols);
  if (!shaped) {
    std::string got = "[";
    for (py::ssize_t k = 0; k < array.ndim(); ++k)
      got += (k ? ", " : "") + std::to_string(array.shape(k));
    throw Error(SourceLocation{.field = what}, "expected " + layout + " float32, got " + got + "]");
  }
  return {static_cast<const float*>(array.data()), static_cast<std::size_t>(rows * cols)};
}

engine::physics::BackendKind backend_of(const std::string& word) {
  return engine::physics::parse_backend(word, "backend");
}

// The envs of one scene, as make_vec builds them.
class Envs {
 public:
  Envs(const std::string& scene, int num_envs, std::uint64_t seed, const std::string& backend,
       const std::string& randomization, int threads, int batch_size, int width, int height,
       const std::string& camera)
      : run_{.scene = scene,
             .randomization = scenes::parse_randomization(randomization, "randomization"),
             .backend = backend_of(backend),
             .seed = seed,
             .envs = num_envs,
             .threads = threads},
        scene_(app::build_scene(run_)),
        batch_size_(batch_size) {
    make();
    if (width > 0 || !camera.empty()) start_renderer(width, height, camera);
  }

  const engine::VectorEnv& env() const { return *env_; }
  engine::VectorEnv& env() { return *env_; }
  const scenes::Scene& scene() const { return scene_; }
  std::uint64_t seed() const { return run_.seed; }

  // A new seed: every env made again from it (Gymnasium's reset(seed=...)).
  void reseed(std::uint64_t seed) {
    run_.seed = seed;
    make();
  }

  void reset() {
    py::gil_scoped_release release;
    env_->reset();
  }

  void step(const py::array& actions) {
    const auto a = float_rows(actions, env_->num_envs(), env_->action_space().dim(), "actions",
                              layout(env_->num_envs()));
    py::gil_scoped_release release;
    env_->step(a);
  }

  void async_reset() {
    py::gil_scoped_release release;
    env_->async_reset();
  }

  void send(const py::array& actions, const py::array& env_ids) {
    if (!env_ids.dtype().is(py::dtype::of<std::int32_t>()) &&
        !env_ids.dtype().is(py::dtype::of<std::int64_t>()))
      type_error("env_ids: expected an integer array, got dtype " +
                 py::str(env_ids.dtype()).cast<std::string>());
    const auto ids = py::array_t<int, py::array::c_style | py::array::forcecast>::ensure(env_ids);
    const auto k = static_cast<int>(ids.size());
    const auto a = float_rows(actions, k, env_->action_space().dim(), "actions", layout(k));
    std::span<const int> id_span(ids.data(), static_cast<std::size_t>(k));
    py::gil_scoped_release release;
    env_->send(a, id_span);
  }

  void recv() {
    py::gil_scoped_release release;
    env_->recv();
  }

  // Every env drawn from the renderer's camera: [N, H, W, 3] uint8, the renderer's own buffer.
  void render() {
#ifdef SIMLAB_HAS_RENDER
    if (!renderer_)
      throw Error(SourceLocation{.field = "render"},
                  "this env was made without render=(width, height) or a camera name");
    std::vector<const engine::physics::World*> worlds;
    std::vector<int> variants;
    std::vector<engine::render::Camera> cameras;
    for (int i = 0; i < env_->num_envs(); ++i) {
      worlds.push_back(&env_->world(i));
      variants.push_back(env_->variant_of(i));
      cameras.push_back(scenes::render_camera(scene_, camera_, env_->world(i), i, run_.seed));
    }
    py::gil_scoped_release release;
    renderer_->render(worlds, variants, cameras);
#else
    throw Error(SourceLocation{.field = "render"},
                "this simlab was built without the Vulkan renderer (SIMLAB_WITH_VULKAN=OFF)");
#endif
  }

  py::object frames(py::handle owner) const {
#ifdef SIMLAB_HAS_RENDER
    if (!renderer_) return py::none();
    return view(renderer_->rgb().data(),
                {env_->num_envs(), renderer_->height(), renderer_->width(), 3}, owner);
#else
    (void)owner;
    return py::none();
#endif
  }

 private:
  std::string layout(int rows) const {
    return "[" + std::to_string(rows) +
           ", action_dim=" + std::to_string(env_->action_space().dim()) + "]";
  }

  void make() {
    py::gil_scoped_release release;
    env_.reset();
    env_ = app::make_envs(run_, scene_, {.batch_size = batch_size_});
  }

  void start_renderer(int width, int height, const std::string& camera) {
#ifdef SIMLAB_HAS_RENDER
    if (width <= 0 || height <= 0) width = height = 128;
    camera_ = scenes::choose_camera(scene_, camera);  // scene cameras, then the model's
    renderer_ = std::make_unique<engine::render::BatchRenderer>(
        scenes::variant_models(scene_),
        engine::render::RenderConfig{.width = width, .height = height});
#else
    (void)width, (void)height, (void)camera;
    throw Error(SourceLocation{.field = "render"},
                "this simlab was built without the Vulkan renderer (SIMLAB_WITH_VULKAN=OFF)");
#endif
  }

  app::RunSpec run_;
  scenes::Scene scene_;
  int batch_size_;
  std::unique_ptr<engine::VectorEnv> env_;
#ifdef SIMLAB_HAS_RENDER
  scenes::CameraChoice camera_;
  std::unique_ptr<engine::render::BatchRenderer> renderer_;
#endif
};

// The fields of a batch as numpy views owned by `owner`.
py::dict batch_views(const engine::Batch& b, py::handle owner) {
  const py::ssize_t n = b.rows();
  const auto boolean = py::dtype("bool");
  py::dict d;
  d["obs"] = view(b.obs.data(), {n, b.obs.cols()}, owner);
  d["final_obs"] = view(b.final_obs.data(), {n, b.final_obs.cols()}, owner);
  d["reward"] = view(b.reward.data(), {n}, owner);
  d["terminated"] = view(b.terminated.data(), {n}, owner, boolean);
  d["truncated"] = view(b.truncated.data(), {n}, owner, boolean);
  d["status"] = view(b.status.data(), {n}, owner);
  d["env_id"] = view(b.env_id.data(), {n}, owner);
  d["episode_step"] = view(b.episode_step.data(), {n}, owner);
  d["action"] = view(b.action.data(), {n, b.action.cols()}, owner);
  return d;
}

py::dict space_info(const engine::Space& s) {
  py::dict d;
  d["names"] = s.names();
  d["low"] = std::vector<float>(s.low().begin(), s.low().end());
  d["high"] = std::vector<float>(s.high().begin(), s.high().end());
  return d;
}

// What `simlab scenes check` shows of a spec, as a dict.
py::dict scene_info(const std::string& name_or_path, const std::string& backend) {
  const app::RunSpec run{.scene = name_or_path, .backend = backend_of(backend), .threads = 1};
  const auto scene = app::build_scene(run);
  const auto& v0 = scene.variants.at(0);
  const auto& obs = v0.task.observe ? v0.task.observation : v0.model->info().observation;
  py::dict d;
  d["name"] = scene.spec.name;
  d["description"] = scene.spec.description;
  d["file"] = scene.spec.file.string();
  d["model"] = scene.spec.model.string();
  d["backend"] = engine::physics::backend_name(scene.backend);
  d["control_hz"] = scene.spec.control_hz;
  d["frame_skip"] = scene.config.frame_skip;
  d["max_episode_steps"] = scene.config.max_episode_steps;
  d["variants"] = scene.variants.size();
  d["variant_summary"] = scene.variant_summary;
  d["observation"] = space_info(obs);
  d["action"] = space_info(v0.model->info().action);
  std::vector<std::string> cameras;
  for (const auto& c : scene.spec.cameras)
    cameras.push_back(c.name);
  d["cameras"] = cameras;
  std::vector<std::string> randomized;
  for (const auto& r : scene.spec.randomize)
    randomized.push_back(r.param_name);
  d["randomized"] = randomized;
  return d;
}

}  // namespace
}  // namespace simlab::python

PYBIND11_MODULE(_simlab, m) {
  using namespace simlab::python;
  namespace sl = simlab;
  m.doc() = "simlab's engine: batched envs with zero-copy numpy views (see the simlab package)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const sl::Error& e) {
      const std::string what = e.what();
      if (what.find("no such") != std::string::npos) {
        PyErr_SetString(PyExc_FileNotFoundError, what.c_str());
      } else {
        PyErr_SetString(PyExc_ValueError, what.c_str());
      }
    }
  });

  m.def("scenes", [] {
    std::vector<std::string> names;
    for (const auto& e : sl::scenes::list_scenes())
      if (!e.shadowed) names.push_back(e.name);
    return names;
  });
  m.def("scene_info", &scene_info, py::arg("scene"), py::arg("backend") = "mujoco");
  m.def("has_renderer", [] {
#ifdef SIMLAB_HAS_RENDER
    return true;
#else
    return false;
#endif
  });

  py::class_<Envs>(m, "Envs")
      .def(py::init<const std::string&, int, std::uint64_t, const std::string&, const std::string&,
                    int, int, int, int, const std::string&>(),
           py::arg("scene"), py::arg("num_envs"), py::arg("seed") = 0,
           py::arg("backend") = "mujoco", py::arg("randomization") = "train",
           py::arg("threads") = 0, py::arg("batch_size") = 0, py::arg("width") = 0,
           py::arg("height") = 0, py::arg("camera") = "")
      .def_property_readonly("num_envs", [](const Envs& e) { return e.env().num_envs(); })
      .def_property_readonly("batch_size", [](const Envs& e) { return e.env().batch_size(); })
      .def_property_readonly("num_threads", [](const Envs& e) { return e.env().num_threads(); })
      .def_property_readonly("seed", &Envs::seed)
      .def_property_readonly("observation",
                             [](const Envs& e) { return space_info(e.env().observation_space()); })
      .def_property_readonly("action",
                             [](const Envs& e) { return space_info(e.env().action_space()); })
      .def_property_readonly("scene_name", [](const Envs& e) { return e.scene().spec.name; })
      .def_property_readonly("control_hz", [](const Envs& e) { return e.scene().spec.control_hz; })
      .def("reseed", &Envs::reseed)
      .def("reset", &Envs::reset)
      .def("step", &Envs::step, py::arg("actions"))
      .def("async_reset", &Envs::async_reset)
      .def("send", &Envs::send, py::arg("actions"), py::arg("env_ids"))
      .def("recv", &Envs::recv)
      .def("render", &Envs::render)
      // Views of the [num_envs] batch (sync) and of the [batch_size] batch recv() fills.
      .def("batch",
           [](py::object self) { return batch_views(self.cast<Envs&>().env().batch(), self); })
      .def("recv_batch",
           [](py::object self) { return batch_views(self.cast<Envs&>().env().recv_batch(), self); })
      .def("frames", [](py::object self) { return self.cast<Envs&>().frames(self); })
      .def("stats",
           [](const Envs& e) {
             const auto s = e.env().stats();
             py::dict d;
             d["steps"] = s.steps;
             d["episodes"] = s.episodes;
             d["diverged"] = s.diverged;
             d["invalid_actions"] = s.invalid_actions;
             d["overflows"] = s.overflows;
             return d;
           })
      // Where the engine keeps a batch field, to check that the views are the engine's memory.
      .def("buffer_address", [](const Envs& e, const std::string& field) -> std::uintptr_t {
        const auto& b = e.env().batch();
        const void* p = nullptr;
        if (field == "obs") p = b.obs.data();
        if (field == "final_obs") p = b.final_obs.data();
        if (field == "reward") p = b.reward.data();
        if (field == "terminated") p = b.terminated.data();
        if (field == "truncated") p = b.truncated.data();
        if (!p)
          throw sl::Error(sl::SourceLocation{.field = "field"}, "no batch field '" + field + "'");
        return reinterpret_cast<std::uintptr_t>(p);
      });

  // A reference rollout straight through the C++ API (scenes::make_env, VectorEnv::step), for the
  // tests that the Python arrays are the engine's, bit for bit: actions [T, N, A] -> obs, reward,
  // terminated, truncated, final_obs stacked over the T steps (obs with the reset's first).
  m.def("_reference", [](const std::string& scene, int num_envs, std::uint64_t seed, int threads,
                         const py::array_t<float, py::array::c_style>& actions) {
    const auto built = sl::app::build_scene(sl::app::RunSpec{.scene = scene, .seed = seed});
    auto env = sl::scenes::make_env(built, num_envs, threads, seed);
    const auto steps = actions.shape(0);
    const auto obs_dim = env->observation_space().dim(), act = env->action_space().dim();
    py::array_t<float> obs(
        {steps + 1, static_cast<py::ssize_t>(num_envs), static_cast<py::ssize_t>(obs_dim)});
    py::array_t<float> final_obs(
        {steps, static_cast<py::ssize_t>(num_envs), static_cast<py::ssize_t>(obs_dim)});
    py::array_t<float> reward({steps, static_cast<py::ssize_t>(num_envs)});
    py::array_t<bool> terminated({steps, static_cast<py::ssize_t>(num_envs)});
    py::array_t<bool> truncated({steps, static_cast<py::ssize_t>(num_envs)});
    const std::size_t row = static_cast<std::size_t>(num_envs) * obs_dim;
    std::copy_n(env->batch().obs.data(), row, obs.mutable_data(0));
    for (py::ssize_t t = 0; t < steps; ++t) {
      const auto& b = env->step(std::span<const float>(
          actions.data(t), static_cast<std::size_t>(num_envs) * static_cast<std::size_t>(act)));
      std::copy_n(b.obs.data(), row, obs.mutable_data(t + 1));
      std::copy_n(b.final_obs.data(), row, final_obs.mutable_data(t));
      for (int i = 0; i < num_envs; ++i) {
        reward.mutable_at(t, i) = b.reward(i, 0);
        terminated.mutable_at(t, i) = b.terminated(i, 0) != 0;
        truncated.mutable_at(t, i) = b.truncated(i, 0) != 0;
      }
    }
    py::dict d;
    d["obs"] = obs;
    d["final_obs"] = final_obs;
    d["reward"] = reward;
    d["terminated"] = terminated;
    d["truncated"] = truncated;
    return d;
  });

  // The C++ loop on the same envs, for the Python-overhead benchmark: `steps` steps with the given
  // [num_envs, action_dim] actions, the GIL released.
  m.def("_step_loop", [](Envs& e, const py::array& actions, int steps) {
    const auto a = float_rows(actions, e.env().num_envs(), e.env().action_space().dim(), "actions",
                              "[num_envs, action_dim]");
    py::gil_scoped_release release;
    for (int s = 0; s < steps; ++s)
      e.env().step(a);
  });
}
