#include "engine/physics/mujoco/mujoco_backend.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <regex>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "engine/core/error.h"
#include "engine/core/paths.h"

namespace simlab::engine::physics::mujoco {
namespace {

// MuJoCo reports fatal errors through mju_user_error (by default it prints and calls exit()).
// Route them into an exception so a bad model or a stack overflow in one env never ends the
// process: load() turns it into a simlab::Error, and World::step() into a diverged env. Warnings
// are counted in mjData::warning, which step() reads; the printed text is dropped to keep worker
// threads quiet.
void throw_mujoco_error(const char* message) {
  throw Error(SourceLocation{.field = "mujoco"}, message);
}
void ignore_mujoco_warning(const char*) {}

void install_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    mju_user_error = throw_mujoco_error;
    mju_user_warning = ignore_mujoco_warning;
  });
}

// The model's own text (the main file; includes are not followed).
std::string model_text(const ModelSource& source) {
  if (source.in_memory()) return source.text;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(source.path, ec)) return "";  // parse() says what it is
  std::ifstream in(source.path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// MuJoCo reports bad XML in two shapes:
//   schema/compiler: "XML Error: Schema violation: unrecognized element\n\nElement 'bogus', line 3"
//   tinyxml parsing: "XML parse error 14:\nError=XML_ERROR_MISMATCHED_ELEMENT ... Line number=3:
//                     XMLElement name=body"
// Pull out the line, column and element so the error reads file:line:column: element <x>: what.
Error compile_error(const ModelSource& source, const std::string& raw) {
  SourceLocation where{.file = source.path.string()};
  std::smatch m;
  // Digits that do not fit an int (a name in the message can hold anything) are no position.
  auto small = [](const std::string& digits) {
    int v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    return r.ec == std::errc() ? v : 0;
  };
  if (std::regex_search(raw, m, std::regex(R"([Ll]ine(?: number=| )(\d+))")))
    where.line = small(m[1]);
  if (std::regex_search(raw, m, std::regex(R"(column (\d+))"))) where.column = small(m[1]);
  if (std::regex_search(raw, m, std::regex(R"(Element '([^']*)'|XMLElement name=(\w+))")))
    where.field = "element <" + (m[1].matched ? m[1].str() : m[2].str()) + ">";

  std::string what;
  if (std::regex_search(raw, m, std::regex(R"(Error=XML_ERROR_(\w+))"))) {
    std::string kind = m[1].str();  // MISMATCHED_ELEMENT -> mismatched element
    std::transform(kind.begin(), kind.end(), kind.begin(),
                   [](char c) { return c == '_' ? ' ' : static_cast<char>(std::tolower(c)); });
    what = "XML parse error: " + kind;
  } else {
    what = raw.substr(0, raw.find('\n'));
    for (const char* prefix : {"XML Error: ", "Error: "})
      if (what.rfind(prefix, 0) == 0) what = what.substr(std::strlen(prefix));
  }
  // A missing <include> names no file: find the include that is not there.
  if (where.field == "element <include>" && what.find("file not found") != std::string::npos) {
    const std::string xml = model_text(source);
    const auto dir = source.path.parent_path();
    const std::regex include(R"(<include[^>]*\bfile\s*=\s*["']([^"']+)["'])");
    for (auto it = std::sregex_iterator(xml.begin(), xml.end(), include);
         it != std::sregex_iterator(); ++it) {
      const std::filesystem::path file = dir / (*it)[1].str();
      if (path_exists(file)) continue;
      where.line =
          1 + static_cast<int>(std::count(xml.begin(), xml.begin() + it->position(), '\n'));
      return Error(where, "no such included file '" + (*it)[1].str() + "' (looked for " +
                              std::filesystem::absolute(file).lexically_normal().string() +
                              "; includes resolve against the model's folder)");
    }
  }
  return Error(where, what + " (MuJoCo's compiler)");
}

std::string name_or_index(const mjModel* m, int type, int id) {
  const char* name = mj_id2name(m, type, id);
  return name && *name ? name : std::to_string(id);
}

// Observation: qpos, qvel, then sensordata, each element named after its joint or sensor.
void describe_spaces(const mjModel* m, ModelInfo& info) {
  std::vector<std::string> qpos_names(m->nq), qvel_names(m->nv), sensor_names(m->nsensordata);
  for (int j = 0; j < m->njnt; ++j) {
    const std::string name = name_or_index(m, mjOBJ_JOINT, j);
    const int qa = m->jnt_qposadr[j], va = m->jnt_dofadr[j];
    static constexpr std::array<const char*, 7> kFree = {"x", "y", "z", "qw", "qx", "qy", "qz"};
    static constexpr std::array<const char*, 6> kFreeVel = {"vx", "vy", "vz", "wx", "wy", "wz"};
    static constexpr std::array<const char*, 4> kBall = {"qw", "qx", "qy", "qz"};
    switch (m->jnt_type[j]) {
      case mjJNT_FREE:
        for (int k = 0; k < 7; ++k)
          qpos_names[qa + k] = name + "." + kFree[k];
        for (int k = 0; k < 6; ++k)
          qvel_names[va + k] = name + "." + kFreeVel[k];
        break;
      case mjJNT_BALL:
        for (int k = 0; k < 4; ++k)
          qpos_names[qa + k] = name + "." + kBall[k];
        for (int k = 0; k < 3; ++k)
          qvel_names[va + k] = name + "." + kFreeVel[3 + k];
        break;
      default:
        qpos_names[qa] = name;
        qvel_names[va] = name;
    }
  }
  for (int s = 0; s < m->nsensor; ++s) {
    const std::string name = name_or_index(m, mjOBJ_SENSOR, s);
    for (int k = 0; k < m->sensor_dim[s]; ++k)
      sensor_names[m->sensor_adr[s] + k] =
          m->sensor_dim[s] == 1 ? name : name + "." + std::to_string(k);
  }
  info.observation.add_group("qpos", m->nq, qpos_names);
  info.observation.add_group("qvel", m->nv, qvel_names);
  info.observation.add_group("sensor", m->nsensordata, sensor_names);
  // A limited hinge or slide joint's range bounds its qpos element (evaluation counts a policy
  // that drives a joint into its limit).
  for (int j = 0; j < m->njnt; ++j)
    if (m->jnt_limited[j] && (m->jnt_type[j] == mjJNT_HINGE || m->jnt_type[j] == mjJNT_SLIDE)) {
      info.observation.low(m->jnt_qposadr[j]) = static_cast<float>(m->jnt_range[2 * j]);
      info.observation.high(m->jnt_qposadr[j]) = static_cast<float>(m->jnt_range[2 * j + 1]);
    }

  std::vector<std::string> act_names(m->nu);
  for (int a = 0; a < m->nu; ++a)
    act_names[a] = name_or_index(m, mjOBJ_ACTUATOR, a);
  info.action.add_group("ctrl", m->nu, act_names);
  for (int a = 0; a < m->nu; ++a) {
    if (m->actuator_ctrllimited[a]) {
      info.action.low(a) = static_cast<float>(m->actuator_ctrlrange[2 * a]);
      info.action.high(a) = static_cast<float>(m->actuator_ctrlrange[2 * a + 1]);
    }
  }
}

void describe_visual(const mjModel* m, VisualModel& v) {
  static constexpr std::array<GeomShape, 8> kShapes = {
      GeomShape::kPlane,     GeomShape::kHeightField, GeomShape::kSphere, GeomShape::kCapsule,
      GeomShape::kEllipsoid, GeomShape::kCylinder,    GeomShape::kBox,    GeomShape::kMesh};
  for (int g = 0; g < m->ngeom; ++g) {
    VisualGeom geom;
    geom.shape = kShapes[static_cast<std::size_t>(std::clamp(m->geom_type[g], 0, 7))];
    for (int k = 0; k < 3; ++k)
      geom.size[k] = static_cast<float>(m->geom_size[3 * g + k]);
    geom.group = m->geom_group[g];
    geom.data = m->geom_dataid[g];
    if (const int mat = m->geom_matid[g]; mat >= 0 && m->mat_texid[mat] >= 0) {
      geom.texture = m->mat_texid[mat];
      geom.texrepeat[0] = m->mat_texrepeat[2 * mat];
      geom.texrepeat[1] = m->mat_texrepeat[2 * mat + 1];
      geom.texuniform = m->mat_texuniform[mat] != 0;
    }
    v.geoms.push_back(geom);
  }
  for (int t = 0; t < m->ntex; ++t) {
    VisualTexture tex;
    tex.width = m->tex_width[t];
    tex.height = m->tex_height[t];
    tex.cube = m->tex_type[t] != mjTEXTURE_2D;  // cube and skybox: six square faces
    const mjtByte* rgb = m->tex_rgb + m->tex_adr[t];
    tex.rgb.assign(rgb, rgb + 3 * static_cast<std::size_t>(tex.width) * tex.height);
    v.textures.push_back(std::move(tex));
  }
  v.lights = m->nlight;
  for (int i = 0; i < m->nmesh; ++i) {
    VisualMesh mesh;
    mesh.vertices.assign(m->mesh_vert + 3 * m->mesh_vertadr[i],
                         m->mesh_vert + 3 * (m->mesh_vertadr[i] + m->mesh_vertnum[i]));
    mesh.faces.assign(m->mesh_face + 3 * m->mesh_faceadr[i],
                      m->mesh_face + 3 * (m->mesh_faceadr[i] + m->mesh_facenum[i]));
    v.meshes.push_back(std::move(mesh));
  }
  for (int i = 0; i < m->nhfield; ++i) {
    VisualHeightField hf;
    hf.nrow = m->hfield_nrow[i];
    hf.ncol = m->hfield_ncol[i];
    for (int k = 0; k < 4; ++k)
      hf.size[k] = static_cast<float>(m->hfield_size[4 * i + k]);
    hf.elevation.assign(m->hfield_data + m->hfield_adr[i],
                        m->hfield_data + m->hfield_adr[i] + hf.nrow * hf.ncol);
    v.heightfields.push_back(std::move(hf));
  }
  for (int c = 0; c < m->ncam; ++c)
    v.cameras.push_back({name_or_index(m, mjOBJ_CAMERA, c), static_cast<float>(m->cam_fovy[c])});
  for (int k = 0; k < 3; ++k)
    v.center[k] = static_cast<float>(m->stat.center[k]);
  v.extent = static_cast<float>(m->stat.extent);
}

bool state_is_bad(const mjModel* m, const mjData* d) {
  for (int i = 0; i < m->nq; ++i)
    if (mju_isBad(d->qpos[i])) return true;
  for (int i = 0; i < m->nv; ++i)
    if (mju_isBad(d->qvel[i])) return true;
  return false;
}

// Bad qpos/qvel/qacc, and bad ctrl: MuJoCo zeroes a control above mjMAXVAL (1e10), which would
// silently apply another action than the one asked for.
int bad_warning_count(const mjData* d) {
  return d->warning[mjWARN_BADQPOS].number + d->warning[mjWARN_BADQVEL].number +
         d->warning[mjWARN_BADQACC].number + d->warning[mjWARN_BADCTRL].number;
}

// Contacts or constraint rows that did not fit in the arena (MuJoCo drops them).
int full_warning_count(const mjData* d) {
  return d->warning[mjWARN_CONTACTFULL].number + d->warning[mjWARN_CNSTRFULL].number;
}

enum class Overflow { kContacts, kConstraints, kStack };

// Which buffer, its size, where the size came from and how to raise it.
std::string overflow_fault(const ModelInfo& info, Overflow what) {
  struct Buffer {
    const char* name;
    const char* attribute;
    int capacity;
    bool fitted;
    int peak;
  };
  const ArenaInfo& a = info.arena;
  const Buffer b = what == Overflow::kContacts
                       ? Buffer{"contact buffer", "nconmax", a.nconmax, a.fitted_con, a.peak_con}
                   : what == Overflow::kConstraints
                       ? Buffer{"constraint buffer", "njmax", a.njmax, a.fitted_efc, a.peak_efc}
                       : Buffer{"stack", "nstack", a.nstack, a.fitted_stack, a.peak_stack};
  std::ostringstream text;
  text << "MuJoCo's " << b.name << " of model '" << info.name << "' is full (" << b.attribute << " "
       << b.capacity;
  if (b.fitted)
    text << ", fitted: " << a.margin << " x the probe's peak " << b.peak
         << "); raise the scene's memory_margin, or size it in the model: ";
  else
    text << ", the model's <size>); raise it: ";
  text << "<size " << b.attribute << "=\"" << 2 * b.capacity << "\"/>";
  return text.str();
}

// A keyframe's state on top of freshly reset data (what mj_resetDataKeyframe does after its
// mj_resetData), so that a new mjData is not cleared twice.
void apply_keyframe(const mjModel* m, mjData* d, int k) {
  d->time = m->key_time[k];
  std::copy_n(m->key_qpos + k * m->nq, m->nq, d->qpos);
  std::copy_n(m->key_qvel + k * m->nv, m->nv, d->qvel);
  std::copy_n(m->key_act + k * m->na, m->na, d->act);
  std::copy_n(m->key_ctrl + k * m->nu, m->nu, d->ctrl);
  std::copy_n(m->key_mpos + k * 3 * m->nmocap, 3 * m->nmocap, d->mocap_pos);
  std::copy_n(m->key_mquat + k * 4 * m->nmocap, 4 * m->nmocap, d->mocap_quat);
}

void reset_data(const mjModel* m, mjData* d, int keyframe) {
  mj_resetData(m, d);
  if (keyframe >= 0) apply_keyframe(m, d, keyframe);
}

// mj_makeData, or an error that names the model and its sizes: mj_makeData returns null where a
// <size> cannot be made (buffers that do not fit the stack, or more memory than there is).
DataPtr make_data(const mjModel* m, const std::string& name) {
  DataPtr data(mj_makeData(m));
  if (!data)
    throw Error(SourceLocation{.file = name, .field = "size"},
                "MuJoCo could not allocate the simulation data (nconmax " +
                    std::to_string(m->nconmax) + ", njmax " + std::to_string(m->njmax) +
                    ", nstack " + std::to_string(m->nstack) +
                    ") that its <size> asks for; fix the <size>");
  return data;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
MjModel::MjModel(ModelPtr model, std::string name, ArenaInfo arena) : model_(std::move(model)) {
  const mjModel* m = model_.get();
  info_.name = std::move(name);
  info_.arena = arena;
  info_.arena.nstack = m->nstack;
  info_.arena.njmax = m->njmax;
  info_.arena.nconmax = m->nconmax;
  info_.timestep = m->opt.timestep;
  info_.min_time_constant = (m->opt.disableflags & mjDSBL_REFSAFE) ? 0.0 : 2 * m->opt.timestep;
  info_.nq = m->nq;
  info_.nv = m->nv;
  info_.nu = m->nu;
  info_.nsensordata = m->nsensordata;
  info_.nbody = m->nbody;
  info_.ngeom = m->ngeom;
  info_.model_bytes = static_cast<std::size_t>(mj_sizeModel(m));
  describe_spaces(m, info_);
  for (int k = 0; k < m->nkey; ++k) {
    const char* key = mj_id2name(m, mjOBJ_KEY, k);
    info_.keyframes.emplace_back(key ? key : "");
  }
  for (int j = 0; j < m->njnt; ++j)
    info_.joint_kinds.push_back(m->jnt_type[j] == mjJNT_FREE    ? JointKind::kFree
                                : m->jnt_type[j] == mjJNT_BALL  ? JointKind::kBall
                                : m->jnt_type[j] == mjJNT_SLIDE ? JointKind::kSlide
                                                                : JointKind::kHinge);
  describe_visual(m, visual_);
}

int MjModel::reset_keyframe(const ResetOptions& options) const {
  if (options.keyframe >= model_->nkey) {
    throw Error(SourceLocation{.file = info_.name, .field = "keyframe"},
                "keyframe " + std::to_string(options.keyframe) + " does not exist; the model has " +
                    std::to_string(model_->nkey));
  }
  if (options.keyframe >= 0) return options.keyframe;
  return model_->nkey > 0 ? 0 : -1;
}

std::unique_ptr<World> MjModel::make_world(const ResetOptions& options) const {
  return std::make_unique<MjWorld>(std::static_pointer_cast<const MjModel>(shared_from_this()),
                                   options);
}

double MjModel::time_raw_loop(int worlds, int steps, int frame_skip,
                              const Buffer2D<float>& ctrl_table) const {
  const mjModel* m = model_.get();
  SIMLAB_CHECK(ctrl_table.cols() == m->nu && ctrl_table.rows() > 0) << "ctrl table shape";
  std::vector<DataPtr> data;
  for (int w = 0; w < worlds; ++w) {
    data.push_back(make_data(m, info_.name));
    reset_data(m, data.back().get(), reset_keyframe({}));
    mj_forward(m, data.back().get());
  }
  const auto start = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    for (int w = 0; w < worlds; ++w) {
      mjData* d = data[w].get();
      const auto row = ctrl_table.row((w + s) % ctrl_table.rows());
      for (int a = 0; a < m->nu; ++a)
        d->ctrl[a] = row[a];
      for (int k = 0; k < frame_skip; ++k)
        mj_step(m, d);
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int joint_qpos_width(const mjModel* m, int joint) {
  const int type = m->jnt_type[joint];
  return type == mjJNT_FREE ? 7 : type == mjJNT_BALL ? 4 : 1;
}
int joint_dof_width(const mjModel* m, int joint) {
  const int type = m->jnt_type[joint];
  return type == mjJNT_FREE ? 6 : type == mjJNT_BALL ? 3 : 1;
}

// Read (or, with `value`, write) one parameter of `m`. Per-dof joint parameters are written to
// every dof of the joint; a light's diffuse intensity to all three channels.
static double access_param(mjModel* m, Param param, int i, const double* value) {
  auto rw = [&](auto& slot) {
    if (value) slot = static_cast<std::remove_reference_t<decltype(slot)>>(*value);
    return static_cast<double>(slot);
  };
  auto per_dof = [&](mjtNum* array) {
    const int dof = m->jnt_dofadr[i];
    if (value)
      for (int k = 0; k < joint_dof_width(m, i); ++k)
        array[dof + k] = *value;
    return static_cast<double>(array[dof]);
  };
  switch (param) {
    case Param::kBodyMass:
      return rw(m->body_mass[i]);
    case Param::kBodyComX:
    case Param::kBodyComY:
    case Param::kBodyComZ:
      return rw(
          m->body_ipos[3 * i + (static_cast<int>(param) - static_cast<int>(Param::kBodyComX))]);
    case Param::kGeomFriction:
      return rw(m->geom_friction[3 * i]);
    case Param::kGeomSoftness:
      return rw(m->geom_solref[mjNREF * i]);
    case Param::kGeomR:
    case Param::kGeomG:
    case Param::kGeomB:
      return rw(m->geom_rgba[4 * i + (static_cast<int>(param) - static_cast<int>(Param::kGeomR))]);
    case Param::kJointDamping:
      return per_dof(m->dof_damping);
    case Param::kJointArmature:
      return per_dof(m->dof_armature);
    case Param::kJointFrictionLoss:
      return per_dof(m->dof_frictionloss);
    case Param::kActuatorGain:
      return rw(m->actuator_gainprm[mjNGAIN * i]);
    case Param::kActuatorForceLimit:
      if (value) {
        m->actuator_forcelimited[i] = 1;
        m->actuator_forcerange[2 * i] = -*value;
        m->actuator_forcerange[2 * i + 1] = *value;
      }
      return m->actuator_forcelimited[i] ? m->actuator_forcerange[2 * i + 1] : mjMAXVAL;
    case Param::kGravityZ:
      return rw(m->opt.gravity[2]);
    case Param::kLightPosX:
    case Param::kLightPosY:
    case Param::kLightPosZ:
      return rw(
          m->light_pos[3 * i + (static_cast<int>(param) - static_cast<int>(Param::kLightPosX))]);
    case Param::kLightDiffuse:
      if (value)
        for (int k = 0; k < 3; ++k)
          m->light_diffuse[3 * i + k] = static_cast<float>(*value);
      return m->light_diffuse[3 * i];
    case Param::kCameraPosX:
    case Param::kCameraPosY:
    case Param::kCameraPosZ:
      return rw(
          m->cam_pos[3 * i + (static_cast<int>(param) - static_cast<int>(Param::kCameraPosX))]);
  }
  return 0;
}

std::vector<std::string> MjModel::names(Element element) const {
  const mjModel* m = model_.get();
  auto list = [&](int type, int n) {
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      out.push_back(name_or_index(m, type, i));
    return out;
  };
  switch (element) {
    case Element::kBody:
      return list(mjOBJ_BODY, m->nbody);
    case Element::kJoint:
      return list(mjOBJ_JOINT, m->njnt);
    case Element::kGeom:
      return list(mjOBJ_GEOM, m->ngeom);
    case Element::kSite:
      return list(mjOBJ_SITE, m->nsite);
    case Element::kSensor:
      return list(mjOBJ_SENSOR, m->nsensor);
    case Element::kActuator:
      return list(mjOBJ_ACTUATOR, m->nu);
    case Element::kLight:
      return list(mjOBJ_LIGHT, m->nlight);
    case Element::kCamera:
      return list(mjOBJ_CAMERA, m->ncam);
    case Element::kWorld:
      return {"world"};
  }
  return {};
}

int MjModel::quantity_dim(Quantity q, int index) const {
  const mjModel* m = model_.get();
  switch (q) {
    case Quantity::kJointPos:
      return joint_qpos_width(m, index);
    case Quantity::kJointVel:
      return joint_dof_width(m, index);
    case Quantity::kBodyQuat:
      return 4;
    case Quantity::kSensor:
      return m->sensor_dim[index];
    case Quantity::kBodyContact:
    case Quantity::kActuatorForce:
      return 1;
    default:
      return 3;
  }
}

double MjModel::param_default(Param param, int index) const {
  return access_param(model_.get(), param, index, nullptr);
}

// ---------------------------------------------------------------------------------------------
MjWorld::MjWorld(std::shared_ptr<const MjModel> model, const ResetOptions& options)
    : shared_(std::move(model)),
      data_(make_data(shared_->raw(), shared_->info().name)),
      options_(options),
      keyframe_(shared_->reset_keyframe(options)),
      scratch_(static_cast<std::size_t>(shared_->raw()->nv)) {
  // mj_makeData has reset the data already: only the keyframe is left to apply.
  if (keyframe_ >= 0) apply_keyframe(this->model(), data_.get(), keyframe_);
  mj_forward(this->model(), data_.get());
}

mjModel* MjWorld::own_parameters() {
  if (!own_) own_.reset(mj_copyModel(nullptr, shared_->raw()));
  if (!own_) throw std::bad_alloc();
  return own_.get();
}

void MjWorld::set_param(Param param, int index, double value) {
  mjModel* m = own_parameters();
  if (param == Param::kBodyMass) {
    // Keep the body's density: its rotational inertia scales with its mass.
    const mjModel* base = shared_->raw();
    const double ratio = base->body_mass[index] > 0 ? value / base->body_mass[index] : 1.0;
    for (int k = 0; k < 3; ++k)
      m->body_inertia[3 * index + k] = base->body_inertia[3 * index + k] * ratio;
  }
  if (param == Param::kActuatorGain && m->actuator_biastype[index] == mjBIAS_AFFINE) {
    // Strength, not gear: a servo's stiffness and damping (and the constant that holds its set
    // point) scale with its gain, so a weaker motor pushes less hard towards the same target.
    // Scaling the gear would also scale the joint length the bias reads and move the set point.
    const mjModel* base = shared_->raw();
    const double gain0 = base->actuator_gainprm[mjNGAIN * index];
    const double ratio = gain0 != 0 ? value / gain0 : 1.0;
    for (int k = 0; k < 3; ++k)
      m->actuator_biasprm[mjNBIAS * index + k] =
          base->actuator_biasprm[mjNBIAS * index + k] * ratio;
  }
  access_param(m, param, index, &value);
}

double MjWorld::param(Param param, int index) const {
  return access_param(const_cast<mjModel*>(model()), param, index, nullptr);
}

void MjWorld::read(Quantity q, int i, std::span<double> out) const {
  const mjModel* m = model();
  const mjData* d = data_.get();
  auto copy = [&](const mjtNum* from, int n) { std::copy_n(from, n, out.data()); };
  switch (q) {
    case Quantity::kJointPos:
      return copy(d->qpos + m->jnt_qposadr[i], joint_qpos_width(m, i));
    case Quantity::kJointVel:
      return copy(d->qvel + m->jnt_dofadr[i], joint_dof_width(m, i));
    case Quantity::kBodyPos:
      return copy(d->xpos + 3 * i, 3);
    case Quantity::kBodyQuat:
      return copy(d->xquat + 4 * i, 4);
    case Quantity::kBodyZAxis:
      for (int k = 0; k < 3; ++k)
        out[k] = d->xmat[9 * i + 3 * k + 2];
      return;
    case Quantity::kBodyLinVel:
    case Quantity::kBodyAngVel: {
      mjtNum v[6];  // [angular, linear] at the body's frame, world orientation
      mj_objectVelocity(m, d, mjOBJ_BODY, i, v, 0);
      return copy(q == Quantity::kBodyAngVel ? v : v + 3, 3);
    }
    case Quantity::kSitePos:
      return copy(d->site_xpos + 3 * i, 3);
    case Quantity::kSensor:
      return copy(d->sensordata + m->sensor_adr[i], m->sensor_dim[i]);
    case Quantity::kBodyContact: {
      // A count, not a force: after step2+step1 the contacts are the new state's while the
      // constraint forces are still the previous step's.
      int count = 0;
      for (int c = 0; c < d->ncon; ++c)
        count +=
            m->geom_bodyid[d->contact[c].geom1] == i || m->geom_bodyid[d->contact[c].geom2] == i;
      out[0] = count;
      return;
    }
    case Quantity::kActuatorForce:
      out[0] = d->actuator_force[i];
      return;
  }
}

void MjWorld::write(Quantity q, int i, std::span<const double> values) {
  const mjModel* m = model();
  mjData* d = data_.get();
  if (q == Quantity::kJointPos) {
    std::copy_n(values.data(), joint_qpos_width(m, i), d->qpos + m->jnt_qposadr[i]);
  } else if (q == Quantity::kJointVel) {
    std::copy_n(values.data(), joint_dof_width(m, i), d->qvel + m->jnt_dofadr[i]);
  } else {
    SIMLAB_CHECK(false) << "World::write supports joint positions and velocities only";
  }
}

void MjWorld::geom_poses(std::span<float> out) const {
  const mjData* d = data_.get();
  for (int g = 0; g < model()->ngeom; ++g) {
    float* o = out.data() + 12 * g;
    for (int k = 0; k < 3; ++k)
      o[k] = static_cast<float>(d->geom_xpos[3 * g + k]);
    for (int k = 0; k < 9; ++k)
      o[3 + k] = static_cast<float>(d->geom_xmat[9 * g + k]);
  }
}

void MjWorld::geom_colors(std::span<float> out) const {
  // MuJoCo's rule: a geom with a material shows the material's colour unless its own rgba was
  // set (anything but the default grey), which is what colour randomization does.
  const mjModel* m = model();
  for (int g = 0; g < m->ngeom; ++g) {
    const float* rgba = m->geom_rgba + 4 * g;
    const bool default_grey =
        rgba[0] == 0.5f && rgba[1] == 0.5f && rgba[2] == 0.5f && rgba[3] == 1.0f;
    if (m->geom_matid[g] >= 0 && default_grey) rgba = m->mat_rgba + 4 * m->geom_matid[g];
    std::copy_n(rgba, 4, out.data() + 4 * g);
  }
}

void MjWorld::camera_pose(int camera, float pos[3], float mat[9]) const {
  const mjData* d = data_.get();
  for (int k = 0; k < 3; ++k)
    pos[k] = static_cast<float>(d->cam_xpos[3 * camera + k]);
  for (int k = 0; k < 9; ++k)
    mat[k] = static_cast<float>(d->cam_xmat[9 * camera + k]);
}

void MjWorld::lights(std::span<float> out) const {
  const mjModel* m = model();
  const mjData* d = data_.get();
  for (int l = 0; l < m->nlight; ++l) {
    float* o = out.data() + 10 * l;
    for (int k = 0; k < 3; ++k) {
      o[k] = static_cast<float>(d->light_xpos[3 * l + k]);
      o[3 + k] = static_cast<float>(d->light_xdir[3 * l + k]);
      o[6 + k] = m->light_active[l] ? m->light_diffuse[3 * l + k] : 0.0f;
    }
    o[9] = m->light_directional[l] ? 1.0f : 0.0f;
  }
}

std::size_t MjWorld::bytes() const {
  std::size_t n = sizeof(mjData) + static_cast<std::size_t>(data_->nbuffer) +
                  static_cast<std::size_t>(data_->nstack) * sizeof(mjtNum);
  if (own_) n += static_cast<std::size_t>(mj_sizeModel(own_.get()));
  return n;
}

void MjWorld::reset(Rng& rng) {
  const mjModel* m = model();
  mjData* d = data_.get();
  reset_data(m, d, keyframe_);
  // Position noise is a random velocity integrated for one second, so quaternions of free and ball
  // joints stay unit length; hinge and slide joints get plain uniform noise.
  if (options_.qpos_noise > 0) {
    for (int i = 0; i < m->nv; ++i)
      scratch_[i] = rng.uniform(-1.0, 1.0) * options_.qpos_noise;
    mj_integratePos(m, d->qpos, scratch_.data(), 1.0);
  }
  if (options_.qvel_noise > 0)
    for (int i = 0; i < m->nv; ++i)
      d->qvel[i] += rng.uniform(-1.0, 1.0) * options_.qvel_noise;
  mj_forward(m, d);
}

StepStatus MjWorld::step(std::span<const float> ctrl, int frame_skip) {
  const mjModel* m = model();
  mjData* d = data_.get();
  for (int a = 0; a < m->nu; ++a)
    d->ctrl[a] = ctrl[a];
  const int warnings_before = bad_warning_count(d);
  const int full_before = full_warning_count(d);
  try {
    // dm_control's ordering: step2 then step1 leaves positions, velocities and their sensors
    // consistent with the new state at the cost of one mj_step (mj_forward ran at reset).
    for (int k = 0; k < frame_skip; ++k) {
      const mjtNum time_before = d->time;
      mj_step2(m, d);
      mj_step1(m, d);
      // A full contact or constraint buffer drops the rest silently: the step is not trusted.
      if (full_warning_count(d) != full_before) {
        fault_ = overflow_fault(shared_->info(), d->warning[mjWARN_CONTACTFULL].number > 0
                                                     ? Overflow::kContacts
                                                     : Overflow::kConstraints);
        return StepStatus::kOverflow;
      }
      // On a bad qpos/qvel/qacc MuJoCo 2.2.2 calls mj_resetData itself, which also clears the
      // warning counters: the clock going back is the reliable sign that it happened.
      if (d->time <= time_before) return StepStatus::kDiverged;
    }
  } catch (const Error& e) {
    // A MuJoCo error: the stack ran out (an overflow, which the caller reports), or worse.
    if (e.message().find("Stack overflow") == std::string::npos) return StepStatus::kDiverged;
    fault_ = overflow_fault(shared_->info(), Overflow::kStack);
    return StepStatus::kOverflow;
  }
  if (bad_warning_count(d) != warnings_before || state_is_bad(m, d)) return StepStatus::kDiverged;
  return StepStatus::kOk;
}

void MjWorld::observe(std::span<float> obs) const {
  const mjModel* m = model();
  const mjData* d = data_.get();
  float* out = obs.data();
  for (int i = 0; i < m->nq; ++i)
    *out++ = static_cast<float>(d->qpos[i]);
  for (int i = 0; i < m->nv; ++i)
    *out++ = static_cast<float>(d->qvel[i]);
  for (int i = 0; i < m->nsensordata; ++i)
    *out++ = static_cast<float>(d->sensordata[i]);
}

// ---------------------------------------------------------------------------------------------
namespace {

// MuJoCo 2.2.2 keeps the last parsed model in a global for mj_saveLastXML: parse one model at a
// time, and hold the lock from a parse to the save that reads it.
std::mutex& parser_mutex() {
  static std::mutex m;
  return m;
}

// Values MuJoCo's compiler accepts but no simulation survives: a non-finite number anywhere that
// the dynamics read (nan gravity diverges every episode), or a timestep that is not positive.
void check_values(const mjModel* m, const ModelSource& source) {
  auto where = [&](const std::string& field) {
    return SourceLocation{.file = source.path.string(), .field = field};
  };
  if (!(m->opt.timestep > 0) || !std::isfinite(m->opt.timestep))
    throw Error(where("option.timestep"), "is " + std::to_string(m->opt.timestep) +
                                              ": it must be a positive number of seconds");
  struct Array {
    const char* field;
    const mjtNum* values;
    std::size_t count;
    mjtObj object;  // whose name goes into the message (mjOBJ_UNKNOWN: none)
    int per;        // values per object
  };
  const Array arrays[] = {
      {"option.gravity", m->opt.gravity, 3, mjOBJ_UNKNOWN, 3},
      {"option.wind", m->opt.wind, 3, mjOBJ_UNKNOWN, 3},
      {"option.magnetic", m->opt.magnetic, 3, mjOBJ_UNKNOWN, 3},
      {"option.density", &m->opt.density, 1, mjOBJ_UNKNOWN, 1},
      {"option.viscosity", &m->opt.viscosity, 1, mjOBJ_UNKNOWN, 1},
      {"qpos0", m->qpos0, static_cast<std::size_t>(m->nq), mjOBJ_UNKNOWN, m->nq},
      {"body pos", m->body_pos, 3 * static_cast<std::size_t>(m->nbody), mjOBJ_BODY, 3},
      {"body quat", m->body_quat, 4 * static_cast<std::size_t>(m->nbody), mjOBJ_BODY, 4},
      {"body mass", m->body_mass, static_cast<std::size_t>(m->nbody), mjOBJ_BODY, 1},
      {"body inertia", m->body_inertia, 3 * static_cast<std::size_t>(m->nbody), mjOBJ_BODY, 3},
      {"joint range", m->jnt_range, 2 * static_cast<std::size_t>(m->njnt), mjOBJ_JOINT, 2},
      {"joint stiffness", m->jnt_stiffness, static_cast<std::size_t>(m->njnt), mjOBJ_JOINT, 1},
      {"dof damping", m->dof_damping, static_cast<std::size_t>(m->nv), mjOBJ_UNKNOWN, 1},
      {"dof armature", m->dof_armature, static_cast<std::size_t>(m->nv), mjOBJ_UNKNOWN, 1},
      {"dof frictionloss", m->dof_frictionloss, static_cast<std::size_t>(m->nv), mjOBJ_UNKNOWN, 1},
      {"geom size", m->geom_size, 3 * static_cast<std::size_t>(m->ngeom), mjOBJ_GEOM, 3},
      {"geom pos", m->geom_pos, 3 * static_cast<std::size_t>(m->ngeom), mjOBJ_GEOM, 3},
      {"geom friction", m->geom_friction, 3 * static_cast<std::size_t>(m->ngeom), mjOBJ_GEOM, 3},
      {"geom solref", m->geom_solref, mjNREF * static_cast<std::size_t>(m->ngeom), mjOBJ_GEOM,
       mjNREF},
      {"actuator gear", m->actuator_gear, 6 * static_cast<std::size_t>(m->nu), mjOBJ_ACTUATOR, 6},
      {"actuator gainprm", m->actuator_gainprm, mjNGAIN * static_cast<std::size_t>(m->nu),
       mjOBJ_ACTUATOR, mjNGAIN},
      {"actuator biasprm", m->actuator_biasprm, mjNBIAS * static_cast<std::size_t>(m->nu),
       mjOBJ_ACTUATOR, mjNBIAS},
      {"key qpos", m->key_qpos, static_cast<std::size_t>(m->nkey) * m->nq, mjOBJ_KEY, m->nq},
      {"key qvel", m->key_qvel, static_cast<std::size_t>(m->nkey) * m->nv, mjOBJ_KEY, m->nv},
  };
  for (const auto& a : arrays) {
    for (std::size_t i = 0; i < a.count; ++i) {
      if (std::isfinite(a.values[i])) continue;
      std::string field = a.field;
      if (a.object != mjOBJ_UNKNOWN && a.per > 0) {
        const char* name = mj_id2name(m, a.object, static_cast<int>(i / a.per));
        field += " of '" + std::string(name ? name : "#" + std::to_string(i / a.per)) + "'";
      }
      throw Error(where(field), "is " + std::to_string(a.values[i]) +
                                    ": MuJoCo compiles it, but no simulation survives a non-finite "
                                    "value");
    }
  }
}

// MuJoCo 2.2.2's URDF importer crashes (SIGSEGV inside mj_loadXML) on a joint type it does not
// know ("rezolute", even "REVOLUTE"): refuse such a file before MuJoCo reads it. Joints without a
// type (those a <transmission> names) are left alone.
void check_urdf_joint_types(const ModelSource& source) {
  const std::string xml = model_text(source);
  if (xml.find("<robot") == std::string::npos) return;
  static const std::regex joint(R"(<joint\b([^>]*)>)");
  static const std::regex type(R"(\btype\s*=\s*(["'])(.*?)\1)");
  static const std::regex name(R"(\bname\s*=\s*(["'])(.*?)\1)");
  static const char* const kKnown[] = {"revolute", "continuous", "prismatic",
                                       "fixed",    "floating",   "planar"};
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), joint); it != std::sregex_iterator();
       ++it) {
    const std::string attributes = (*it)[1].str();
    std::smatch t, n;
    if (!std::regex_search(attributes, t, type)) continue;
    const std::string kind = t[2].str();
    if (std::any_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return kind == k; }))
      continue;
    const int line =
        1 + static_cast<int>(std::count(xml.begin(), xml.begin() + it->position(), '\n'));
    const std::string joint_name = std::regex_search(attributes, n, name) ? n[2].str() : "";
    throw Error(SourceLocation{.file = source.path.string(),
                               .line = line,
                               .field = "joint " + (joint_name.empty() ? "?" : joint_name)},
                "type '" + kind +
                    "' is not a URDF joint type (revolute, continuous, prismatic, fixed, floating, "
                    "planar; lower case)");
  }
}

// MuJoCo computes each mesh's convex hull while it compiles, which for a mesh of a few hundred
// thousand faces takes minutes with no sign of life: say so before it starts (binary STL gives its
// face count in its header; other files are estimated from their size).
void warn_large_meshes(const ModelSource& source) {
  if (source.in_memory()) return;
  const std::string xml = model_text(source);
  static const std::regex mesh(R"(<mesh\b[^>]*\bfile(?:name)?\s*=\s*["']([^"']+)["'])");
  static const std::regex meshdir(R"(\bmeshdir\s*=\s*["']([^"']+)["'])");
  const auto dir = source.path.parent_path();
  std::smatch m;
  const auto mesh_dir = std::regex_search(xml, m, meshdir) ? dir / m[1].str() : dir;
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), mesh); it != std::sregex_iterator();
       ++it) {
    std::error_code ec;
    std::filesystem::path file;
    for (const auto& candidate : {mesh_dir / (*it)[1].str(), dir / (*it)[1].str()})
      if (std::filesystem::is_regular_file(candidate, ec)) {
        file = candidate;
        break;
      }
    if (file.empty()) continue;
    const auto bytes = std::filesystem::file_size(file, ec);
    std::uint64_t faces = bytes / 250;  // an ASCII facet is about 250 bytes
    std::ifstream in(file, std::ios::binary);
    char header[84] = {};
    if (in.read(header, 84)) {
      std::uint32_t count = 0;
      std::memcpy(&count, header + 80, 4);
      if (84 + 50ull * count == bytes) faces = count;  // binary STL
    }
    if (faces > 100000)
      spdlog::warn(
          "{}: mesh {} has about {} faces; MuJoCo computes its convex hull while compiling, which "
          "can take minutes (a copy decimated to about 10,000 faces loads in a second)",
          source.path.string(), file.string(), faces);
  }
}

// Parse and compile under parser_mutex(). In-memory text goes through MuJoCo's virtual file
// system under the source's full path, so relative asset paths resolve against its folder.
mjModel* parse(const ModelSource& source) {
  install_handlers();
  check_urdf_joint_types(source);
  warn_large_meshes(source);
  std::array<char, 2048> error{};
  mjModel* raw = nullptr;
  if (source.in_memory()) {
    // The VFS is about 2 MB: keep it off the stack.
    auto vfs = std::make_unique<mjVFS>();
    mj_defaultVFS(vfs.get());
    const std::string name = source.path.string();
    if (mj_makeEmptyFileVFS(vfs.get(), name.c_str(), static_cast<int>(source.text.size())) != 0)
      throw Error(SourceLocation{.file = name}, "cannot stage the model in memory");
    std::memcpy(vfs->filedata[mj_findFileVFS(vfs.get(), name.c_str())], source.text.data(),
                source.text.size());
    try {
      raw = mj_loadXML(name.c_str(), vfs.get(), error.data(), static_cast<int>(error.size()));
    } catch (const Error& e) {
      mj_deleteVFS(vfs.get());
      throw compile_error(source, e.message());
    }
    mj_deleteVFS(vfs.get());
  } else {
    const auto& path = source.path;
    if (path.empty()) throw Error(SourceLocation{.field = "model"}, "no model file named");
    if (!path_exists(path))
      throw Error(SourceLocation{.file = path.string()}, "no such model file");
    if (is_dir(path))
      throw Error(SourceLocation{.file = path.string()},
                  "is a folder, not a model file (MJCF .xml or URDF .urdf)");
    if (!std::ifstream(path).good())
      throw Error(SourceLocation{.file = path.string()}, "model file is not readable");
    try {
      raw = mj_loadXML(path.c_str(), nullptr, error.data(), static_cast<int>(error.size()));
    } catch (const Error& e) {
      throw compile_error(source, e.message());
    }
  }
  if (!raw) throw compile_error(source, error.data());
  ModelPtr model(raw);
  for (const auto& hf : source.heightfields) {
    const int id = mj_name2id(raw, mjOBJ_HFIELD, hf.name.c_str());
    if (id < 0)
      throw Error(SourceLocation{.file = source.path.string(), .field = "hfield " + hf.name},
                  "the model declares no <hfield name=\"" + hf.name + "\">");
    if (raw->hfield_nrow[id] != hf.nrow || raw->hfield_ncol[id] != hf.ncol ||
        hf.elevation.size() != static_cast<std::size_t>(hf.nrow) * hf.ncol)
      throw Error(SourceLocation{.file = source.path.string(), .field = "hfield " + hf.name},
                  "elevation data does not match nrow x ncol");
    std::copy(hf.elevation.begin(), hf.elevation.end(), raw->hfield_data + raw->hfield_adr[id]);
  }
  check_values(raw, source);
  return model.release();
}

// Which arena sizes the model's text declares in a <size> element.
struct DeclaredSizes {
  bool nstack = false, njmax = false, nconmax = false;
};
DeclaredSizes declared_sizes(const ModelSource& source) {
  DeclaredSizes declared;
  const std::string xml = model_text(source);
  const std::regex size(R"(<size\b([^>]*)>)");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), size); it != std::sregex_iterator();
       ++it) {
    const std::string attributes = (*it)[1].str();
    auto has = [&](const char* name) {
      return std::regex_search(attributes, std::regex(std::string("\\b") + name + "\\s*="));
    };
    declared.nstack = declared.nstack || has("nstack");
    declared.njmax = declared.njmax || has("njmax");
    declared.nconmax = declared.nconmax || has("nconmax");
  }
  return declared;
}

// The probe behind ArenaOptions: episodes of 2 s from the first keyframe with noise on positions
// and velocities, random controls (within ctrlrange, else [-1, 1]) held for 20 ms, run in MuJoCo's
// default (large) arena; the peaks are read before every reset. A peak that reached the default
// capacity says the probe itself overflowed: that size is left as it is.
ArenaInfo fit_arena(mjModel* m, const std::string& name, const DeclaredSizes& declared,
                    const ArenaOptions& options) {
  ArenaInfo a;
  a.margin = options.margin;
  if (!options.fit || (declared.nstack && declared.njmax && declared.nconmax)) return a;
  const DataPtr data = make_data(m, name);
  mjData* d = data.get();
  const double dt = m->opt.timestep;
  const int steps =
      std::clamp(static_cast<int>(std::lround(options.probe_seconds / dt)), 300, 20000);
  const int episode = std::max(1, static_cast<int>(std::lround(2.0 / dt)));
  const int hold = std::max(1, static_cast<int>(std::lround(0.02 / dt)));
  const int keyframe = m->nkey > 0 ? 0 : -1;
  Rng rng(0x61726e61, 0, 0, 0);  // a fixed stream: the fitted sizes are a function of the model
  std::vector<mjtNum> noise(static_cast<std::size_t>(m->nv));
  auto read_peaks = [&] {
    a.peak_stack = std::max(a.peak_stack, d->maxuse_stack);
    a.peak_efc = std::max(a.peak_efc, d->maxuse_efc);
    a.peak_con = std::max(a.peak_con, d->maxuse_con);
  };
  auto start_episode = [&] {
    read_peaks();
    reset_data(m, d, keyframe);
    for (auto& x : noise)
      x = rng.uniform(-0.1, 0.1);
    mj_integratePos(m, d->qpos, noise.data(), 1.0);
    for (int i = 0; i < m->nv; ++i)
      d->qvel[i] += rng.uniform(-0.1, 0.1);
    mj_forward(m, d);
  };
  for (int s = 0; s < steps; ++s) {
    if (s % episode == 0) start_episode();
    if (s % hold == 0)
      for (int u = 0; u < m->nu; ++u) {
        const bool limited = m->actuator_ctrllimited[u];
        d->ctrl[u] = rng.uniform(limited ? m->actuator_ctrlrange[2 * u] : -1.0,
                                 limited ? m->actuator_ctrlrange[2 * u + 1] : 1.0);
      }
    try {
      mj_step(m, d);
    } catch (const Error&) {
      start_episode();  // the default stack ran out: its peak stays at capacity, unfitted
    }
    if (state_is_bad(m, d)) start_episode();
  }
  read_peaks();
  a.probe_steps = steps;
  // Floors from the structure, for states a random probe rarely reaches (a runner on its back):
  // every moving geom that collides touching once, each contact with its rows (a pyramidal cone
  // of the largest condim), and every joint limit and friction loss active at once.
  int colliding = 0, condim = 1, limits = 0;
  for (int g = 0; g < m->ngeom; ++g)
    if (m->geom_bodyid[g] != 0 && (m->geom_contype[g] || m->geom_conaffinity[g])) {
      ++colliding;
      condim = std::max(condim, m->geom_condim[g]);
    }
  for (int j = 0; j < m->njnt; ++j)
    limits += m->jnt_limited[j];
  for (int v = 0; v < m->nv; ++v)
    limits += m->dof_frictionloss[v] > 0;
  const int rows_per_contact = condim == 1 ? 1 : 2 * (condim - 1);
  auto fit = [&](bool is_declared, int peak, int floor, int& capacity, bool& fitted) {
    if (is_declared || peak >= capacity) return;
    capacity = std::max(floor, static_cast<int>(std::ceil(options.margin * peak)));
    fitted = true;
  };
  fit(declared.nconmax, a.peak_con, std::max(4, colliding), m->nconmax, a.fitted_con);
  fit(declared.njmax, a.peak_efc, std::max(16, m->nconmax * rows_per_contact + limits), m->njmax,
      a.fitted_efc);
  // The solver's scratch grows with the constraint rows: the stack grows with njmax's headroom.
  const double rows_ratio =
      a.fitted_efc && a.peak_efc > 0 ? m->njmax / (options.margin * a.peak_efc) : 1.0;
  fit(declared.nstack, a.peak_stack,
      std::max(1000, static_cast<int>(
                         std::ceil(options.margin * a.peak_stack * std::max(1.0, rows_ratio)))),
      m->nstack, a.fitted_stack);
  return a;
}

}  // namespace

std::shared_ptr<const MjModel> load(const ModelSource& source, const ArenaOptions& arena) {
  ModelPtr model;
  {
    std::lock_guard lock(parser_mutex());
    model.reset(parse(source));
  }
  const std::string name = source.path.stem().string();
  const ArenaInfo fitted = fit_arena(model.get(), name, declared_sizes(source), arena);
  return std::make_shared<MjModel>(std::move(model), name, fitted);
}

void save_mjcf(const ModelSource& source, const MjWorld& world, const std::filesystem::path& out) {
  std::array<char, 1024> error{};
  std::string text;
  if (out.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(out.parent_path(), ec);
  }
  {
    std::lock_guard lock(parser_mutex());
    ModelPtr parsed(parse(source));
    const mjModel* m = world.model();
    if (parsed->nbody != m->nbody || parsed->ngeom != m->ngeom || parsed->nq != m->nq)
      throw Error(SourceLocation{.file = out.string()},
                  "the world does not run this model (different structure)");
    if (!mj_saveLastXML(out.c_str(), m, error.data(), static_cast<int>(error.size())))
      throw Error(SourceLocation{.file = out.string()},
                  std::string("cannot write MJCF: ") + error.data());
  }
  std::ifstream in(out);
  std::stringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  in.close();
  // mj_saveLastXML writes geoms' masses, not a body's randomized mass and centre of mass: give
  // each (named) body whose inertia differs from the shared model an explicit <inertial>, which
  // MuJoCo then uses instead of its geoms.
  const mjModel* m = world.model();
  const mjModel* base = world.shared_model()->raw();
  for (int b = 1; b < m->nbody; ++b) {
    bool differs = m->body_mass[b] != base->body_mass[b];
    for (int k = 0; k < 3; ++k)
      differs = differs || m->body_ipos[3 * b + k] != base->body_ipos[3 * b + k] ||
                m->body_inertia[3 * b + k] != base->body_inertia[3 * b + k];
    const char* name = mj_id2name(m, mjOBJ_BODY, b);
    if (!differs || !name) continue;
    const std::string open = "<body name=\"" + std::string(name) + "\"";
    const auto at = text.find(open);
    if (at == std::string::npos) continue;
    const auto end = text.find('>', at);
    std::ostringstream inertial;
    inertial.precision(9);
    inertial << "\n      <inertial pos=\"" << m->body_ipos[3 * b] << " " << m->body_ipos[3 * b + 1]
             << " " << m->body_ipos[3 * b + 2] << "\" quat=\"" << m->body_iquat[4 * b] << " "
             << m->body_iquat[4 * b + 1] << " " << m->body_iquat[4 * b + 2] << " "
             << m->body_iquat[4 * b + 3] << "\" mass=\"" << m->body_mass[b] << "\" diaginertia=\""
             << m->body_inertia[3 * b] << " " << m->body_inertia[3 * b + 1] << " "
             << m->body_inertia[3 * b + 2] << "\"/>";
    text.insert(end + 1, inertial.str());
  }
  // MuJoCo normalizes heightfield files to [0, 1]: write elevations scaled to a maximum of 1 and
  // scale the hfield's top height instead, so the written terrain has the same heights.
  for (const auto& hf : source.heightfields) {
    const float top = *std::max_element(hf.elevation.begin(), hf.elevation.end());
    if (top <= 0) continue;  // flat: the declared size already says so
    const auto bin = out.parent_path() / (out.stem().string() + "-" + hf.name + ".bin");
    std::ofstream file(bin, std::ios::binary);
    const std::int32_t dims[2] = {hf.nrow, hf.ncol};
    file.write(reinterpret_cast<const char*>(dims), sizeof(dims));
    for (float e : hf.elevation) {
      const float x = e / top;
      file.write(reinterpret_cast<const char*>(&x), sizeof(x));
    }
    if (!file) throw Error(SourceLocation{.file = bin.string()}, "cannot write heightfield");
    // <hfield name="N" size="x y z b" nrow=".." ncol=".."/> -> file="..." size="x y z*top b"
    std::smatch m;
    const std::regex tag("<hfield name=\"" + hf.name +
                         "\" size=\"(\\S+) (\\S+) (\\S+) (\\S+)\" nrow=\"\\d+\" ncol=\"\\d+\"");
    if (!std::regex_search(text, m, tag)) continue;
    std::ostringstream replacement;
    replacement << "<hfield name=\"" << hf.name << "\" file=\"" << bin.filename().string()
                << "\" size=\"" << m[1] << " " << m[2] << " " << std::stod(m[3]) * top << " "
                << m[4] << "\"";
    text.replace(static_cast<std::size_t>(m.position(0)), static_cast<std::size_t>(m.length(0)),
                 replacement.str());
  }
  std::ofstream(out) << text;
}

std::string version() {
  return std::string(mj_versionString()) + " (headers " + std::to_string(mjVERSION_HEADER) + ")";
}

}  // namespace simlab::engine::physics::mujoco
