#include "engine/physics/bullet/bullet_backend.h"

#include <BulletCollision/BroadphaseCollision/btDbvtBroadphase.h>
#include <BulletCollision/CollisionDispatch/btCollisionDispatcher.h>
#include <BulletCollision/CollisionDispatch/btDefaultCollisionConfiguration.h>
#include <BulletCollision/CollisionDispatch/btManifoldResult.h>
#include <BulletCollision/CollisionDispatch/btSimulationIslandManager.h>
#include <BulletCollision/CollisionShapes/btBoxShape.h>
#include <BulletCollision/CollisionShapes/btBvhTriangleMeshShape.h>
#include <BulletCollision/CollisionShapes/btCapsuleShape.h>
#include <BulletCollision/CollisionShapes/btConvexHullShape.h>
#include <BulletCollision/CollisionShapes/btCylinderShape.h>
#include <BulletCollision/CollisionShapes/btMultiSphereShape.h>
#include <BulletCollision/CollisionShapes/btSphereShape.h>
#include <BulletCollision/CollisionShapes/btStaticPlaneShape.h>
#include <BulletCollision/CollisionShapes/btTriangleMesh.h>
#include <BulletDynamics/Featherstone/btMultiBody.h>
#include <BulletDynamics/Featherstone/btMultiBodyConstraintSolver.h>
#include <BulletDynamics/Featherstone/btMultiBodyDynamicsWorld.h>
#include <BulletDynamics/Featherstone/btMultiBodyInplaceSolverIslandCallback.h>
#include <BulletDynamics/Featherstone/btMultiBodyJointLimitConstraint.h>
#include <BulletDynamics/Featherstone/btMultiBodyJointMotor.h>
#include <BulletDynamics/Featherstone/btMultiBodyLinkCollider.h>
#include <BulletDynamics/Featherstone/btMultiBodySphericalJointLimit.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include <LinearMath/btQuickprof.h>

#include "engine/core/error.h"
#include "engine/physics/mujoco/mujoco_backend.h"

namespace simlab::engine::physics::bullet {
namespace {

using mujoco::MjModel;
using mujoco::MjWorld;

// Bullet's process-wide hooks, set once: friction combines as MuJoCo's (the larger of the two
// geoms'), and the profiler's zones are no-ops (its default tree is shared by every thread).
btScalar combine_max_friction(const btCollisionObject* a, const btCollisionObject* b) {
  return std::max(a->getFriction(), b->getFriction());
}
btScalar combine_max_rolling(const btCollisionObject* a, const btCollisionObject* b) {
  return std::max(a->getRollingFriction(), b->getRollingFriction());
}
btScalar combine_max_spinning(const btCollisionObject* a, const btCollisionObject* b) {
  return std::max(a->getSpinningFriction(), b->getSpinningFriction());
}
void no_profile_enter(const char*) {}
void no_profile_leave() {}
void install_hooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    gCalculateCombinedFrictionCallback = combine_max_friction;
    gCalculateCombinedRollingFrictionCallback = combine_max_rolling;
    gCalculateCombinedSpinningFrictionCallback = combine_max_spinning;
    btSetCustomEnterProfileZoneFunc(no_profile_enter);
    btSetCustomLeaveProfileZoneFunc(no_profile_leave);
  });
}

// Collider margins: Bullet pads convex hulls by their margin, so it is kept at a millimetre.
constexpr double kMargin = 0.001;
// Links that only carry a joint (the 2nd..nth joint of a MuJoCo body) get a negligible mass.
constexpr double kTinyMass = 1e-6;
constexpr double kTinyInertia = 1e-9;
// What MuJoCo calls a bad state: NaN, Inf, or above mjMAXVAL.
constexpr double kMaxValue = 1e10;

btVector3 vec(const mjtNum* v) {
  return btVector3(v[0], v[1], v[2]);
}
btMatrix3x3 mat(const mjtNum* m) {
  return btMatrix3x3(m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]);
}
btQuaternion quat_wxyz(const mjtNum* q) {
  return btQuaternion(q[1], q[2], q[3], q[0]);
}
void store_wxyz(const btQuaternion& q, mjtNum* out) {
  out[0] = q.w();
  out[1] = q.x();
  out[2] = q.y();
  out[3] = q.z();
}

std::string name_of(const mjModel* m, int type, int id) {
  const char* name = mj_id2name(m, type, id);
  return name && *name ? name : "#" + std::to_string(id);
}

// The line of `name="NAME"` in the model's text, for errors about unsupported elements.
int line_of(const ModelSource& source, const mjModel* m, int type, int id) {
  const char* name = mj_id2name(m, type, id);
  if (!name || !*name) return 0;
  std::string text = source.text;
  if (text.empty()) {
    std::ifstream in(source.path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
  }
  const auto at = text.find("name=\"" + std::string(name) + "\"");
  if (at == std::string::npos) return 0;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

// ---------------------------------------------------------------------------------------------
// The build plan: how the MuJoCo kinematic tree maps onto Bullet multibodies, worked out once per
// model. Each tree hanging off the world (or off bodies welded to it) becomes one btMultiBody: a
// floating base when its root has a free joint, else a fixed base at the world origin. A body
// with k joints becomes k links (the first k-1 carry only their joint); a body without joints
// becomes a fixed link.
struct LinkPlan {
  int body = -1;     // the MuJoCo body
  int joint = -1;    // the joint this link moves on; -1: fixed to its parent
  bool last = true;  // the body's last link, which carries its mass and geoms
  int parent = -1;   // parent link in the same tree; -1: the base
};
struct TreePlan {
  int root = -1;        // root body
  int free_joint = -1;  // its free joint; -1: fixed base
  std::vector<LinkPlan> links;
};
// Where each MuJoCo body's mass lives: a link of a tree (-1: the tree's floating base), or the
// static world (tree -1).
struct BodySlot {
  int tree = -1;
  int link = -1;
};
// Where each joint lives.
struct JointSlot {
  int tree = -1;
  int link = -1;  // -1: the floating base (free joint)
};

class BtModel;

// One collision object: one geom on a link, the base, or the static world.
struct Collider {
  int geom = -1;
  int tree = -1;       // -1: static
  int link = -1;       // -1: base (with tree >= 0)
  btTransform offset;  // geom frame in the link's frame
};

// Every geom's shape, shared (read-only) by all worlds of the model.
struct ShapeSet {
  std::vector<std::unique_ptr<btTriangleMesh>> meshes;  // heightfields' triangles (outlive shapes)
  std::vector<std::unique_ptr<btCollisionShape>> by_geom;  // null: the geom never collides
};

class BtModel final : public Model {
 public:
  BtModel(std::shared_ptr<const MjModel> mj, const ModelSource& source);

  const ModelInfo& info() const override { return mj_->info(); }
  BackendKind backend() const override { return BackendKind::kBullet; }
  std::unique_ptr<World> make_world(const ResetOptions& options) const override;
  double time_raw_loop(int worlds, int steps, int frame_skip,
                       const Buffer2D<float>& ctrl_table) const override;
  std::vector<std::string> names(Element element) const override { return mj_->names(element); }
  int quantity_dim(Quantity q, int index) const override { return mj_->quantity_dim(q, index); }
  const VisualModel& visual() const override { return mj_->visual(); }
  double param_default(Param param, int index) const override {
    return mj_->param_default(param, index);
  }

  const std::shared_ptr<const MjModel>& mj() const { return mj_; }
  const std::vector<TreePlan>& trees() const { return trees_; }
  const std::vector<JointSlot>& joint_slots() const { return joint_slots_; }
  const ShapeSet& shapes() const { return shapes_; }
  // Whether geoms a and b may touch, by MuJoCo's rules: contype/conaffinity, never within one
  // weld group, not parent-child (unless filterparent is off), not <exclude>d.
  bool may_collide(int a, int b) const;
  // Touch sensors: (sensor index, site) pairs, filled from Bullet's contacts.
  const std::vector<std::pair<int, int>>& touch_sensors() const { return touch_; }

 private:
  void check_supported(const ModelSource& source) const;
  void plan_trees();
  void make_shapes();

  std::shared_ptr<const MjModel> mj_;
  std::vector<TreePlan> trees_;
  std::vector<JointSlot> joint_slots_;
  ShapeSet shapes_;
  std::vector<std::pair<int, int>> touch_;
};

void BtModel::check_supported(const ModelSource& source) const {
  const mjModel* m = mj_->raw();
  auto refuse = [&](int type, int id, const std::string& what, const std::string& why) {
    throw Error(SourceLocation{.file = source.path.string(),
                               .line = line_of(source, m, type, id),
                               .field = what + " '" + name_of(m, type, id) + "'"},
                why + ": the Bullet backend cannot reproduce it (use --backend mujoco)");
  };
  if (m->ntendon > 0) refuse(mjOBJ_TENDON, 0, "tendon", "tendons are not supported");
  if (m->neq > 0) refuse(mjOBJ_EQUALITY, 0, "equality", "equality constraints are not supported");
  if (m->npair > 0)
    refuse(mjOBJ_PAIR, 0, "contact pair", "explicit contact pairs are not supported");
  if (m->opt.density > 0 || m->opt.viscosity > 0 || m->opt.wind[0] != 0 || m->opt.wind[1] != 0 ||
      m->opt.wind[2] != 0)
    throw Error(SourceLocation{.file = source.path.string(), .field = "option"},
                "fluid forces (density, viscosity, wind) are not supported by the Bullet backend");
  for (int b = 1; b < m->nbody; ++b)
    if (m->body_mocapid[b] >= 0) refuse(mjOBJ_BODY, b, "body", "mocap bodies are not supported");
  for (int j = 0; j < m->njnt; ++j)
    if (m->jnt_type[j] == mjJNT_FREE &&
        (m->dof_armature[m->jnt_dofadr[j]] > 0 || m->dof_frictionloss[m->jnt_dofadr[j]] > 0))
      refuse(mjOBJ_JOINT, j, "joint", "armature or friction loss on a free joint is not supported");
  for (int j = 0; j < m->njnt; ++j)
    if (m->jnt_type[j] == mjJNT_BALL && m->dof_frictionloss[m->jnt_dofadr[j]] > 0)
      refuse(mjOBJ_JOINT, j, "joint", "friction loss on a ball joint is not supported");
  for (int a = 0; a < m->nu; ++a) {
    const int j = m->actuator_trnid[2 * a];
    if (m->actuator_trntype[a] != mjTRN_JOINT ||
        (m->jnt_type[j] != mjJNT_HINGE && m->jnt_type[j] != mjJNT_SLIDE))
      refuse(mjOBJ_ACTUATOR, a, "actuator",
             "only actuators on hinge and slide joints are supported (no tendon, site or ball "
             "transmissions)");
    if (m->actuator_dyntype[a] != mjDYN_NONE)
      refuse(mjOBJ_ACTUATOR, a, "actuator", "actuator dynamics (filter, integrator, muscle)");
    if (m->actuator_gaintype[a] != mjGAIN_FIXED ||
        (m->actuator_biastype[a] != mjBIAS_NONE && m->actuator_biastype[a] != mjBIAS_AFFINE))
      refuse(mjOBJ_ACTUATOR, a, "actuator", "only fixed gains and affine biases are supported");
  }
  for (int s = 0; s < m->nsensor; ++s) {
    switch (m->sensor_type[s]) {
      case mjSENS_FORCE:
      case mjSENS_TORQUE:
      case mjSENS_JOINTLIMITPOS:
      case mjSENS_JOINTLIMITVEL:
      case mjSENS_JOINTLIMITFRC:
      case mjSENS_USER:
        refuse(mjOBJ_SENSOR, s, "sensor",
               "this sensor reads MuJoCo's constraint forces, which a Bullet world does not have");
      default:
        break;
    }
  }
  for (int g = 0; g < m->ngeom; ++g) {
    const int type = m->geom_type[g];
    if ((type == mjGEOM_PLANE || type == mjGEOM_HFIELD) && m->body_weldid[m->geom_bodyid[g]] != 0)
      refuse(mjOBJ_GEOM, g, "geom", "planes and heightfields must be static");
  }
}

void BtModel::plan_trees() {
  const mjModel* m = mj_->raw();
  std::vector<BodySlot> body_slots(static_cast<std::size_t>(m->nbody));
  joint_slots_.assign(static_cast<std::size_t>(m->njnt), {});
  // Bodies are numbered so that parents come first (MuJoCo's order), which is also the order
  // Bullet wants its links in.
  for (int b = 1; b < m->nbody; ++b) {
    const int parent = m->body_parentid[b];
    if (m->body_weldid[b] == 0) continue;  // welded to the world: static
    TreePlan* tree = nullptr;
    int parent_link = -1;
    if (body_slots[parent].tree < 0) {
      // A new tree hanging off the static world.
      trees_.push_back({.root = b});
      tree = &trees_.back();
      const int tree_index = static_cast<int>(trees_.size()) - 1;
      if (m->body_jntnum[b] == 1 && m->jnt_type[m->body_jntadr[b]] == mjJNT_FREE) {
        tree->free_joint = m->body_jntadr[b];
        body_slots[b] = {tree_index, -1};
        joint_slots_[tree->free_joint] = {tree_index, -1};
        continue;
      }
    } else {
      tree = &trees_[static_cast<std::size_t>(body_slots[parent].tree)];
      parent_link = body_slots[parent].link;
    }
    const int tree_index = static_cast<int>(tree - trees_.data());
    const int njnt = m->body_jntnum[b];
    if (njnt == 0) {
      tree->links.push_back({.body = b, .joint = -1, .last = true, .parent = parent_link});
    } else {
      for (int k = 0; k < njnt; ++k) {
        const int j = m->body_jntadr[b] + k;
        tree->links.push_back(
            {.body = b, .joint = j, .last = k == njnt - 1, .parent = parent_link});
        parent_link = static_cast<int>(tree->links.size()) - 1;
        joint_slots_[j] = {tree_index, parent_link};
      }
    }
    body_slots[b] = {tree_index, static_cast<int>(tree->links.size()) - 1};
  }
}

void BtModel::make_shapes() {
  const mjModel* m = mj_->raw();
  shapes_.by_geom.resize(static_cast<std::size_t>(m->ngeom));
  for (int g = 0; g < m->ngeom; ++g) {
    bool collides = false;
    for (int h = 0; h < m->ngeom && !collides; ++h)
      collides = h != g && may_collide(g, h);
    if (!collides) continue;
    const mjtNum* size = m->geom_size + 3 * g;
    std::unique_ptr<btCollisionShape> shape;
    switch (m->geom_type[g]) {
      case mjGEOM_PLANE:
        shape = std::make_unique<btStaticPlaneShape>(btVector3(0, 0, 1), 0);
        break;
      case mjGEOM_SPHERE:
        shape = std::make_unique<btSphereShape>(size[0]);
        break;
      case mjGEOM_CAPSULE:
        shape = std::make_unique<btCapsuleShapeZ>(size[0], 2 * size[1]);
        break;
      case mjGEOM_CYLINDER:
        shape = std::make_unique<btCylinderShapeZ>(btVector3(size[0], size[0], size[1]));
        break;
      case mjGEOM_BOX:
        shape = std::make_unique<btBoxShape>(btVector3(size[0], size[1], size[2]));
        break;
      case mjGEOM_ELLIPSOID: {
        const btVector3 center(0, 0, 0);
        const btScalar radius = 1;
        auto sphere = std::make_unique<btMultiSphereShape>(&center, &radius, 1);
        sphere->setLocalScaling(btVector3(size[0], size[1], size[2]));
        shape = std::move(sphere);
        break;
      }
      case mjGEOM_MESH: {
        const int id = m->geom_dataid[g];
        auto hull = std::make_unique<btConvexHullShape>();
        const float* v = m->mesh_vert + 3 * m->mesh_vertadr[id];
        for (int i = 0; i < m->mesh_vertnum[id]; ++i)
          hull->addPoint(btVector3(v[3 * i], v[3 * i + 1], v[3 * i + 2]), false);
        hull->recalcLocalAabb();
        shape = std::move(hull);
        break;
      }
      case mjGEOM_HFIELD: {
        const int id = m->geom_dataid[g];
        const int nrow = m->hfield_nrow[id], ncol = m->hfield_ncol[id];
        const mjtNum* hs = m->hfield_size + 4 * id;
        // A static triangle mesh with a BVH (Bullet's btHeightfieldTerrainShape produced
        // zero-normal contacts against multibody links on flat terrain). Rows run along y,
        // columns along x; elevations in [0, 1] scale by the top height.
        const float* e = m->hfield_data + m->hfield_adr[id];
        auto mesh = std::make_unique<btTriangleMesh>(/*use32bitIndices=*/true, false);
        auto at = [&](int r, int c) {
          return btVector3(-hs[0] + 2 * hs[0] * c / (ncol - 1), -hs[1] + 2 * hs[1] * r / (nrow - 1),
                           hs[2] * e[r * ncol + c]);
        };
        for (int r = 0; r + 1 < nrow; ++r)
          for (int c = 0; c + 1 < ncol; ++c) {
            mesh->addTriangle(at(r, c), at(r, c + 1), at(r + 1, c + 1), false);
            mesh->addTriangle(at(r, c), at(r + 1, c + 1), at(r + 1, c), false);
          }
        shape = std::make_unique<btBvhTriangleMeshShape>(mesh.get(), true);
        shapes_.meshes.push_back(std::move(mesh));
        break;
      }
      default:
        throw Error(SourceLocation{.field = "geom '" + name_of(m, mjOBJ_GEOM, g) + "'"},
                    "geom type " + std::to_string(m->geom_type[g]) +
                        " is not supported by the Bullet backend");
    }
    if (m->geom_type[g] != mjGEOM_SPHERE && m->geom_type[g] != mjGEOM_CAPSULE)
      shape->setMargin(kMargin);
    shapes_.by_geom[g] = std::move(shape);
  }
}

bool BtModel::may_collide(int a, int b) const {
  const mjModel* m = mj_->raw();
  if (m->opt.disableflags & (mjDSBL_CONTACT | mjDSBL_CONSTRAINT)) return false;
  if (!(m->geom_contype[a] & m->geom_conaffinity[b]) &&
      !(m->geom_contype[b] & m->geom_conaffinity[a]))
    return false;
  const int wa = m->body_weldid[m->geom_bodyid[a]], wb = m->body_weldid[m->geom_bodyid[b]];
  if (wa == wb) return false;
  if (!(m->opt.disableflags & mjDSBL_FILTERPARENT) && wa != 0 && wb != 0 &&
      (wa == m->body_weldid[m->body_parentid[wb]] || wb == m->body_weldid[m->body_parentid[wa]]))
    return false;
  for (int e = 0; e < m->nexclude; ++e) {
    const int s = m->exclude_signature[e];
    const int b1 = s >> 16, b2 = s & 0xFFFF;
    const int ba = m->geom_bodyid[a], bb = m->geom_bodyid[b];
    if ((b1 == ba && b2 == bb) || (b1 == bb && b2 == ba)) return false;
  }
  return true;
}

BtModel::BtModel(std::shared_ptr<const MjModel> mj, const ModelSource& source)
    : mj_(std::move(mj)) {
  install_hooks();
  check_supported(source);
  plan_trees();
  make_shapes();
  const mjModel* m = mj_->raw();
  for (int s = 0; s < m->nsensor; ++s)
    if (m->sensor_type[s] == mjSENS_TOUCH) touch_.emplace_back(s, m->sensor_objid[s]);
}

// ---------------------------------------------------------------------------------------------
// A link's frame and inertia at the model's reference configuration (qpos0), in world
// coordinates: Bullet's link frames sit at the centre of mass along the principal axes.
struct LinkFrame {
  btVector3 pos;
  btMatrix3x3 rot;
  double mass = 0;
  btVector3 inertia;
};

// What armature and implicit damping do to contacts and limits. MuJoCo solves its constraints
// with the armature inside the joint-space mass matrix and damping implicit in the new velocity,
// so a constraint impulse moves such a dof as if its inertia were larger by K = armature +
// dt * damping; Bullet's solver only knows the bodies' inertia. implicit_torques() gives the
// applied forces K exactly; this row gives it to constraint impulses: one soft row per dof,
// solved with the contacts and limits, holding the dof's velocity at what the applied forces gave
// it with compliance 1/K (impulse K * (v_free - v)). Without contacts or limits it applies
// nothing. Without it, a joint pressed against the floor got -K times the acceleration it would
// have had without the floor, every step, which cancelled most of its spring (the cheetah stood
// 4.5 cm lower than on MuJoCo, its feet folded).
class JointInertiaRow final : public btMultiBodyConstraint {
 public:
  JointInertiaRow(btMultiBody* mb, int link, int velocity_index, double gain)
      // Both sides on the tree (B's Jacobian stays zero), as Bullet's own joint motor does: a
      // row without a body B would need the solver's fixed body, which it only makes for
      // contacts.
      : btMultiBodyConstraint(mb, mb, link, link, 1, false, MULTIBODY_CONSTRAINT_1DOF_JOINT_MOTOR),
        index_(velocity_index),
        compliance_(1.0 / gain) {}

  void finalizeMultiDof() override {
    allocateJacobiansMultiDof();
    jacobianA(0)[index_] = 1;
    m_numDofsFinalized = m_jacSizeBoth;
  }
  int getIslandIdA() const override {
    if (const btMultiBodyLinkCollider* base = m_bodyA->getBaseCollider())
      return base->getIslandTag();
    for (int i = 0; i < m_bodyA->getNumLinks(); ++i)
      if (const btMultiBodyLinkCollider* c = m_bodyA->getLink(i).m_collider)
        return c->getIslandTag();
    return -1;
  }
  int getIslandIdB() const override { return getIslandIdA(); }
  void debugDraw(btIDebugDraw*) override {}

  void createConstraintRows(btMultiBodyConstraintArray& rows, btMultiBodyJacobianData& data,
                            const btContactSolverInfo& info) override {
    if (m_numDofsFinalized != m_jacSizeBoth) finalizeMultiDof();
    btMultiBodySolverConstraint& row = rows.expandNonInitializing();
    const btVector3 zero(0, 0, 0);
    // Target: the velocity the row finds (the applied forces' result), so the row starts at rest.
    const btScalar free_velocity = m_bodyA->getVelocityVector()[index_];
    fillMultiBodyConstraint(row, data, jacobianA(0), jacobianB(0), zero, zero, zero, zero, 0, info,
                            -BT_LARGE_FLOAT, BT_LARGE_FLOAT, false, 1, false, free_velocity);
    // A soft row (J v + c lambda = v_free): Bullet's solver reads it as rhs - lambda * m_cfm -
    // J dv * m_jacDiagABInv, with m_jacDiagABInv = 1 / (J M^-1 J^T + c).
    const btScalar response = row.m_jacDiagABInv > 0 ? 1 / row.m_jacDiagABInv : 0;
    row.m_jacDiagABInv = 1 / (response + compliance_);
    row.m_cfm = compliance_ * row.m_jacDiagABInv;
    row.m_rhs = 0;
    row.m_orgConstraint = this;
    row.m_orgDofIndex = 0;
  }

 private:
  int index_;
  btScalar compliance_;
};

// Bullet's multibody world of one env, rebuilt from the mirror's parameters at every reset (so
// that an episode depends on nothing but its start state) and after parameter changes.
class BtWorld final : public World {
 public:
  BtWorld(std::shared_ptr<const BtModel> model, const ResetOptions& options)
      : model_(std::move(model)), mirror_(model_->mj(), options) {
    const mjModel* m = model_->mj()->raw();
    qvel_before_.resize(static_cast<std::size_t>(m->nv));
    actuator_force_.assign(static_cast<std::size_t>(m->nu), 0.0);
    contacts_.assign(static_cast<std::size_t>(m->nbody), 0.0);
    rebuild();
  }

  void reset(Rng& rng) override {
    mirror_.reset(rng);
    rebuild();
  }
  StepStatus step(std::span<const float> ctrl, int frame_skip) override;
  void observe(std::span<float> obs) const override { mirror_.observe(obs); }
  double time() const override { return mirror_.time(); }
  std::size_t bytes() const override;
  bool has_own_parameters() const override { return mirror_.has_own_parameters(); }
  void set_param(Param param, int index, double value) override;
  double param(Param param, int index) const override { return mirror_.param(param, index); }
  void read(Quantity q, int index, std::span<double> out) const override;
  void write(Quantity q, int index, std::span<const double> values) override {
    mirror_.write(q, index, values);
    state_written_ = true;
  }
  void forward() override {
    push_state();
    state_written_ = false;
    world_->performDiscreteCollisionDetection();
    read_out(/*stepped=*/false);
  }
  void geom_poses(std::span<float> out) const override { mirror_.geom_poses(out); }
  void geom_colors(std::span<float> out) const override { mirror_.geom_colors(out); }
  void camera_pose(int camera, float pos[3], float mat[9]) const override {
    mirror_.camera_pose(camera, pos, mat);
  }
  void lights(std::span<float> out) const override { mirror_.lights(out); }

  const MjWorld& mirror() const { return mirror_; }
  // Physics only: what time_raw_loop measures (no read-out into the mirror).
  void raw_step(std::span<const float> ctrl, int frame_skip) {
    for (int k = 0; k < frame_skip; ++k)
      substep(ctrl);
  }

 private:
  const mjModel* mjm() const { return mirror_.model(); }
  void rebuild();
  LinkFrame link_frame(const mjModel* m, const mjData* d, const LinkPlan& link) const;
  void build_tree(const mjModel* m, const mjData* d, const TreePlan& tree);
  void add_collider(const mjModel* m, const mjData* d, int geom, btMultiBody* mb, int link,
                    const btTransform& link_pose);
  void push_state();
  void pull_state();
  void substep(std::span<const float> ctrl);
  void update_colliders();
  void read_out(bool stepped);
  bool state_is_bad() const;

  // Joint j's Bullet position (hinge/slide: relative to qpos0) and velocity.
  double joint_q(int j) const;
  double joint_qd(int j) const;

  std::shared_ptr<const BtModel> model_;
  MjWorld mirror_;

  std::unique_ptr<btDefaultCollisionConfiguration> collision_config_;
  std::unique_ptr<btCollisionDispatcher> dispatcher_;
  std::unique_ptr<btDbvtBroadphase> broadphase_;
  std::unique_ptr<btMultiBodyConstraintSolver> solver_;
  std::unique_ptr<btMultiBodyDynamicsWorld> world_;
  std::unique_ptr<btOverlapFilterCallback> filter_;
  std::vector<std::unique_ptr<btMultiBody>> bodies_;         // one per tree
  std::vector<std::unique_ptr<btCollisionObject>> objects_;  // one per colliding geom
  std::vector<Collider> colliders_;                          // parallel to objects_
  std::vector<std::unique_ptr<btMultiBodyConstraint>> constraints_;
  // The link frame of each body's last link relative to the body frame (for ball and free
  // joints).
  std::vector<btTransform> body_to_link_;  // per body
  // Joint dofs with armature or damping, per tree: integrated implicitly in joint space, as
  // MuJoCo does (see implicit_torques()).
  struct ImplicitDof {
    int link = 0, k = 0;  // Bullet link and its dof
    int index = 0;        // in Bullet's [base 6, joint dofs] vectors
    int mj_dof = 0;
  };
  std::vector<std::vector<ImplicitDof>> implicit_;  // per tree
  void implicit_torques(int tree);
  btAlignedObjectArray<btScalar> scratch_r_;
  btAlignedObjectArray<btVector3> scratch_v_;
  btAlignedObjectArray<btMatrix3x3> scratch_m_;
  std::vector<double> v0_, qdd0_, unit_, column_, system_, rhs_;

  std::vector<mjtNum> qvel_before_;  // the last substep's starting velocities, for accelerations
  std::vector<double> actuator_force_;
  std::vector<double> contacts_;  // per body, from Bullet's manifolds
  bool params_changed_ = false;
  bool state_written_ = false;
  btAlignedObjectArray<btQuaternion> scratch_rot_;
  btAlignedObjectArray<btVector3> scratch_pos_;
};

// Bullet 3.24's island callback, when islands are not split, hands the solver the count of
// rigid-body constraints as the count of multibody constraints too, which drops joint limits and
// motors. This one passes the right count; the world owns it (and deletes it) as its own.
struct WholeWorldIsland final : MultiBodyInplaceSolverIslandCallback {
  using MultiBodyInplaceSolverIslandCallback::MultiBodyInplaceSolverIslandCallback;
  void processIsland(btCollisionObject** bodies, int num_bodies, btPersistentManifold** manifolds,
                     int num_manifolds, int island) override {
    if (island >= 0) {
      MultiBodyInplaceSolverIslandCallback::processIsland(bodies, num_bodies, manifolds,
                                                          num_manifolds, island);
      return;
    }
    m_solver->solveMultiBodyGroup(bodies, num_bodies, manifolds, num_manifolds, m_sortedConstraints,
                                  m_numConstraints, m_multiBodySortedConstraints,
                                  m_numMultiBodyConstraints, *m_solverInfo, m_debugDrawer,
                                  m_dispatcher);
  }
};
class MultiBodyWorld final : public btMultiBodyDynamicsWorld {
 public:
  MultiBodyWorld(btDispatcher* dispatcher, btBroadphaseInterface* broadphase,
                 btMultiBodyConstraintSolver* solver, btCollisionConfiguration* config)
      : btMultiBodyDynamicsWorld(dispatcher, broadphase, solver, config) {
    delete m_solverMultiBodyIslandCallback;
    m_solverMultiBodyIslandCallback = new WholeWorldIsland(solver, dispatcher);
    // Colliders are per geom rather than per link, so Bullet cannot tell which belong to one
    // multibody: solve the world as one island.
    getSimulationIslandManager()->setSplitIslands(false);
  }
};

// Broadphase filter: MuJoCo's collision rules between the geoms behind two colliders.
struct GeomFilter final : btOverlapFilterCallback {
  const BtModel* model = nullptr;
  bool needBroadphaseCollision(btBroadphaseProxy* p0, btBroadphaseProxy* p1) const override {
    const auto* a = static_cast<const btCollisionObject*>(p0->m_clientObject);
    const auto* b = static_cast<const btCollisionObject*>(p1->m_clientObject);
    return model->may_collide(a->getUserIndex(), b->getUserIndex());
  }
};

LinkFrame BtWorld::link_frame(const mjModel* m, const mjData* d, const LinkPlan& link) const {
  LinkFrame f;
  const int b = link.body;
  if (!link.last) {
    // A joint-only link sits at its joint's anchor with the body's orientation.
    f.pos = vec(d->xanchor + 3 * link.joint);
    f.rot = mat(d->xmat + 9 * b);
    f.mass = kTinyMass;
    f.inertia = btVector3(kTinyInertia, kTinyInertia, kTinyInertia);
  } else {
    f.pos = vec(d->xipos + 3 * b);
    f.rot = mat(d->ximat + 9 * b);
    f.mass = std::max(static_cast<double>(m->body_mass[b]), kTinyMass);
    f.inertia = btVector3(std::max(m->body_inertia[3 * b], kTinyInertia),
                          std::max(m->body_inertia[3 * b + 1], kTinyInertia),
                          std::max(m->body_inertia[3 * b + 2], kTinyInertia));
  }
  return f;
}

void BtWorld::build_tree(const mjModel* m, const mjData* d, const TreePlan& tree) {
  const int nlinks = static_cast<int>(tree.links.size());
  std::vector<LinkFrame> frames(static_cast<std::size_t>(nlinks));
  for (int i = 0; i < nlinks; ++i)
    frames[i] = link_frame(m, d, tree.links[i]);

  LinkFrame base;
  const bool floating = tree.free_joint >= 0;
  if (floating) {
    base = link_frame(m, d, {.body = tree.root, .joint = -1, .last = true});
  } else {
    base.pos = btVector3(0, 0, 0);
    base.rot = btMatrix3x3::getIdentity();
  }
  auto mb = std::make_unique<btMultiBody>(nlinks, floating ? base.mass : 0.0,
                                          floating ? base.inertia : btVector3(0, 0, 0), !floating,
                                          /*canSleep=*/false);
  mb->setBaseWorldTransform(btTransform(base.rot, base.pos));
  auto frame_of = [&](int link) -> const LinkFrame& { return link < 0 ? base : frames[link]; };

  for (int i = 0; i < nlinks; ++i) {
    const LinkPlan& plan = tree.links[i];
    const LinkFrame& f = frames[i];
    const LinkFrame& p = frame_of(plan.parent);
    btQuaternion parent_to_this;
    (f.rot.transpose() * p.rot).getRotation(parent_to_this);
    if (plan.joint < 0) {
      mb->setupFixed(i, f.mass, f.inertia, plan.parent, parent_to_this,
                     p.rot.transpose() * (f.pos - p.pos), btVector3(0, 0, 0));
      continue;
    }
    const int j = plan.joint;
    const btVector3 anchor = vec(d->xanchor + 3 * j);
    const btVector3 axis = f.rot.transpose() * vec(d->xaxis + 3 * j);
    const btVector3 parent_to_pivot = p.rot.transpose() * (anchor - p.pos);
    const btVector3 pivot_to_com = f.rot.transpose() * (f.pos - anchor);
    switch (m->jnt_type[j]) {
      case mjJNT_HINGE:
        mb->setupRevolute(i, f.mass, f.inertia, plan.parent, parent_to_this, axis, parent_to_pivot,
                          pivot_to_com, false);
        break;
      case mjJNT_SLIDE:
        mb->setupPrismatic(i, f.mass, f.inertia, plan.parent, parent_to_this, axis, parent_to_pivot,
                           pivot_to_com, false);
        break;
      case mjJNT_BALL:
        mb->setupSpherical(i, f.mass, f.inertia, plan.parent, parent_to_this, parent_to_pivot,
                           pivot_to_com, false);
        break;
      default:
        SIMLAB_CHECK(false) << "free joint below the root";
    }
  }
  mb->finalizeMultiDof();
  mb->setHasSelfCollision(true);  // GeomFilter applies MuJoCo's rules
  mb->setLinearDamping(0);
  mb->setAngularDamping(0);
  mb->setMaxCoordinateVelocity(2 * kMaxValue);  // past it, state_is_bad() resets the env
  mb->setMaxAppliedImpulse(1e9);
  mb->setUseGyroTerm(true);

  // The link frame of each body's last link relative to the body frame (for ball and free
  // joints' state), and the link poses at qpos0 for the colliders' offsets.
  auto body_pose = [&](int b) { return btTransform(mat(d->xmat + 9 * b), vec(d->xpos + 3 * b)); };
  if (floating) {
    body_to_link_[tree.root] = body_pose(tree.root).inverse() * btTransform(base.rot, base.pos);
    for (int g = m->body_geomadr[tree.root];
         g < m->body_geomadr[tree.root] + m->body_geomnum[tree.root]; ++g)
      add_collider(m, d, g, mb.get(), -1, btTransform(base.rot, base.pos));
  }
  for (int i = 0; i < nlinks; ++i) {
    const LinkPlan& plan = tree.links[i];
    if (!plan.last) continue;
    const btTransform pose(frames[i].rot, frames[i].pos);
    body_to_link_[plan.body] = body_pose(plan.body).inverse() * pose;
    for (int g = m->body_geomadr[plan.body];
         g < m->body_geomadr[plan.body] + m->body_geomnum[plan.body]; ++g)
      add_collider(m, d, g, mb.get(), i, pose);
  }

  // Joint limits and friction loss as constraints; armature and damping: implicit dofs.
  auto& implicit = implicit_.emplace_back();
  for (int i = 0; i < nlinks; ++i) {
    const int j = tree.links[i].joint;
    if (j < 0) continue;
    const int type = m->jnt_type[j];
    if (m->jnt_limited[j] && !(m->opt.disableflags & mjDSBL_LIMIT)) {
      if (type == mjJNT_BALL) {
        const double r = m->jnt_range[2 * j + 1];
        auto limit = std::make_unique<btMultiBodySphericalJointLimit>(mb.get(), i, r, r, r, 1e9);
        constraints_.push_back(std::move(limit));
      } else {
        const double q0 = m->qpos0[m->jnt_qposadr[j]];
        constraints_.push_back(std::make_unique<btMultiBodyJointLimitConstraint>(
            mb.get(), i, m->jnt_range[2 * j] - q0, m->jnt_range[2 * j + 1] - q0));
      }
    }
    const double friction = m->dof_frictionloss[m->jnt_dofadr[j]];
    if (type != mjJNT_BALL && friction > 0 && !(m->opt.disableflags & mjDSBL_FRICTIONLOSS))
      constraints_.push_back(
          std::make_unique<btMultiBodyJointMotor>(mb.get(), i, 0.0, friction * m->opt.timestep));
    const int ndof = type == mjJNT_BALL ? 3 : 1;
    for (int k = 0; k < ndof; ++k) {
      const int dof = m->jnt_dofadr[j] + k;
      const bool passive = !(m->opt.disableflags & mjDSBL_PASSIVE) && m->dof_damping[dof] > 0;
      if (m->dof_armature[dof] > 0 || passive) {
        const int index = 6 + mb->getLink(i).m_dofOffset + k;
        implicit.push_back({i, k, index, dof});
        // as implicit_torques() counts it
        const double gain = m->dof_armature[dof] + m->opt.timestep * m->dof_damping[dof];
        constraints_.push_back(std::make_unique<JointInertiaRow>(mb.get(), i, index, gain));
      }
    }
  }
  world_->addMultiBody(mb.get());
  bodies_.push_back(std::move(mb));
}

void BtWorld::add_collider(const mjModel* m, const mjData* d, int geom, btMultiBody* mb, int link,
                           const btTransform& link_pose) {
  const ShapeSet& shapes = model_->shapes();
  btCollisionShape* shape = shapes.by_geom[geom].get();
  if (!shape) return;
  const btTransform geom_pose(mat(d->geom_xmat + 9 * geom), vec(d->geom_xpos + 3 * geom));
  Collider c{.geom = geom,
             .tree = mb ? static_cast<int>(bodies_.size()) : -1,
             .link = link,
             .offset = link_pose.inverse() * geom_pose};
  std::unique_ptr<btCollisionObject> object;
  if (mb) {
    object = std::make_unique<btMultiBodyLinkCollider>(mb, link);
  } else {
    object = std::make_unique<btCollisionObject>();
    object->setCollisionFlags(btCollisionObject::CF_STATIC_OBJECT);
  }
  object->setCollisionShape(shape);
  object->setWorldTransform(link_pose * c.offset);
  object->setUserIndex(geom);
  object->setActivationState(DISABLE_DEACTIVATION);
  const int condim = m->geom_condim[geom];
  object->setFriction(condim == 1 ? 0.0 : m->geom_friction[3 * geom]);
  if (condim >= 4) object->setSpinningFriction(m->geom_friction[3 * geom + 1]);
  if (condim >= 6) object->setRollingFriction(m->geom_friction[3 * geom + 2]);
  object->setRestitution(0);
  // A contact softer than MuJoCo's default time constant (0.02 s): a spring-damper of the same
  // time constant and damping ratio for this body's mass. Stiffer ones keep Bullet's own rigid
  // contact, which is already stiffer than any time constant MuJoCo can step (a quadruped's
  // policy that falls on Bullet falls the same way on MuJoCo at 0.005 s): a spring there would
  // make the contact softer, the opposite of what was asked.
  const double timeconst = m->geom_solref[mjNREF * geom], ratio = m->geom_solref[mjNREF * geom + 1];
  if (mb && timeconst > 0.02 + 1e-12) {
    const double mass = m->body_subtreemass[m->geom_bodyid[geom]];
    const double dmax = m->geom_solimp[mjNIMP * geom + 1];
    const double stiffness = mass / (dmax * dmax * timeconst * timeconst * ratio * ratio);
    const double damping = mass * 2 / (dmax * timeconst);
    object->setContactStiffnessAndDamping(stiffness, damping);
  }
  world_->addCollisionObject(object.get(), btBroadphaseProxy::DefaultFilter,
                             btBroadphaseProxy::AllFilter);
  objects_.push_back(std::move(object));
  colliders_.push_back(c);
}

void BtWorld::rebuild() {
  // Tear down in reverse order of dependence.
  if (world_) {
    for (auto& c : constraints_)
      world_->removeMultiBodyConstraint(c.get());
    for (auto& o : objects_)
      world_->removeCollisionObject(o.get());
    for (auto& b : bodies_)
      world_->removeMultiBody(b.get());
  }
  constraints_.clear();
  objects_.clear();
  colliders_.clear();
  bodies_.clear();
  implicit_.clear();
  world_.reset();
  solver_.reset();
  broadphase_.reset();
  dispatcher_.reset();

  // The collision configuration (algorithm table and memory pools) outlives rebuilds: every
  // manifold and algorithm is back in its pool once the dispatcher is gone, and which slot a new
  // one takes changes no result. Bullet's default pools hold 4096 of each (megabytes per world,
  // and page faults that serialize threads): a small env needs a few dozen, and the pools fall
  // back to the heap when they run out.
  if (!collision_config_) {
    btDefaultCollisionConstructionInfo pools;
    pools.m_defaultMaxPersistentManifoldPoolSize = 64;
    pools.m_defaultMaxCollisionAlgorithmPoolSize = 64;
    collision_config_ = std::make_unique<btDefaultCollisionConfiguration>(pools);
  }
  dispatcher_ = std::make_unique<btCollisionDispatcher>(collision_config_.get());
  broadphase_ = std::make_unique<btDbvtBroadphase>();
  auto filter = std::make_unique<GeomFilter>();
  filter->model = model_.get();
  filter_ = std::move(filter);
  broadphase_->getOverlappingPairCache()->setOverlapFilterCallback(filter_.get());
  solver_ = std::make_unique<btMultiBodyConstraintSolver>();
  world_ = std::make_unique<MultiBodyWorld>(dispatcher_.get(), broadphase_.get(), solver_.get(),
                                            collision_config_.get());
  btContactSolverInfo& info = world_->getSolverInfo();
  info.m_numIterations = 20;
  // Joint limits and the joint-inertia rows act on coupled dofs, where a light link behind a
  // large armature makes plain Gauss-Seidel slow to agree: 3 passes over the joint-space rows per
  // iteration hold the limits (1 pass let a collapsed cheetah's knee through its limit by 0.7
  // rad; 3 passes: 0.9 mm from MuJoCo's rest; 5: 0.4 mm, at more time per step).
  info.m_numNonContactInnerIterations = 3;
  info.m_timeStep = mjm()->opt.timestep;

  // The reference configuration of this world's parameters, in a scratch copy of the mirror.
  const mjModel* m = mjm();
  mjData* d = mirror_.data();
  std::vector<mjtNum> qpos(d->qpos, d->qpos + m->nq);
  std::copy_n(m->qpos0, m->nq, d->qpos);
  mj_kinematics(m, d);
  body_to_link_.assign(static_cast<std::size_t>(m->nbody), btTransform::getIdentity());
  for (const auto& tree : model_->trees())
    build_tree(m, d, tree);
  for (int b = 0; b < m->nbody; ++b)
    if (m->body_weldid[b] == 0)
      for (int g = m->body_geomadr[b]; g < m->body_geomadr[b] + m->body_geomnum[b]; ++g)
        add_collider(m, d, g, nullptr, -1, btTransform::getIdentity());
  for (auto& c : constraints_) {
    c->finalizeMultiDof();
    world_->addMultiBodyConstraint(c.get());
  }
  std::copy(qpos.begin(), qpos.end(), d->qpos);
  const bool gravity = !(m->opt.disableflags & mjDSBL_GRAVITY);
  world_->setGravity(gravity ? vec(m->opt.gravity) : btVector3(0, 0, 0));
  params_changed_ = false;
  state_written_ = false;
  push_state();
  world_->performDiscreteCollisionDetection();
  read_out(/*stepped=*/false);
}

double BtWorld::joint_q(int j) const {
  const JointSlot& s = model_->joint_slots()[j];
  return bodies_[s.tree]->getJointPos(s.link);
}
double BtWorld::joint_qd(int j) const {
  const JointSlot& s = model_->joint_slots()[j];
  return bodies_[s.tree]->getJointVel(s.link);
}

// Mirror (MuJoCo) state -> Bullet.
void BtWorld::push_state() {
  const mjModel* m = mjm();
  const mjData* d = mirror_.data();
  for (int j = 0; j < m->njnt; ++j) {
    const JointSlot& s = model_->joint_slots()[j];
    btMultiBody* mb = bodies_[s.tree].get();
    const int qa = m->jnt_qposadr[j], va = m->jnt_dofadr[j];
    switch (m->jnt_type[j]) {
      case mjJNT_HINGE:
      case mjJNT_SLIDE:
        mb->setJointPos(s.link, d->qpos[qa] - m->qpos0[qa]);
        mb->setJointVel(s.link, d->qvel[va]);
        break;
      case mjJNT_BALL: {
        // MuJoCo's rotation of the body relative to its parent, in the link frame (Bullet
        // applies the conjugate of its joint quaternion parent-to-child).
        const btQuaternion link = body_to_link_[m->jnt_bodyid[j]].getRotation();
        const btQuaternion q = link.inverse() * quat_wxyz(d->qpos + qa) * link;
        const double pos[4] = {q.x(), q.y(), q.z(), q.w()};
        mb->setJointPosMultiDof(s.link, pos);
        const btVector3 w = btMatrix3x3(link).transpose() * vec(d->qvel + va);
        const double vel[3] = {w.x(), w.y(), w.z()};
        mb->setJointVelMultiDof(s.link, vel);
        break;
      }
      case mjJNT_FREE: {
        const btTransform body(btMatrix3x3(quat_wxyz(d->qpos + qa + 3)), vec(d->qpos + qa));
        const btTransform& to_link = body_to_link_[m->jnt_bodyid[j]];
        mb->setBaseWorldTransform(body * to_link);
        const btVector3 omega = body.getBasis() * vec(d->qvel + va + 3);
        const btVector3 arm = body.getBasis() * to_link.getOrigin();
        mb->setBaseVel(vec(d->qvel + va) + omega.cross(arm));
        mb->setBaseOmega(omega);
        break;
      }
    }
  }
  for (auto& mb : bodies_) {
    mb->forwardKinematics(scratch_rot_, scratch_pos_);
    mb->updateCollisionObjectWorldTransforms(scratch_rot_, scratch_pos_);
  }
  update_colliders();
}

// Bullet state -> mirror (MuJoCo) qpos and qvel.
void BtWorld::pull_state() {
  const mjModel* m = mjm();
  mjData* d = mirror_.data();
  for (int j = 0; j < m->njnt; ++j) {
    const JointSlot& s = model_->joint_slots()[j];
    const btMultiBody* mb = bodies_[s.tree].get();
    const int qa = m->jnt_qposadr[j], va = m->jnt_dofadr[j];
    switch (m->jnt_type[j]) {
      case mjJNT_HINGE:
      case mjJNT_SLIDE:
        d->qpos[qa] = mb->getJointPos(s.link) + m->qpos0[qa];
        d->qvel[va] = mb->getJointVel(s.link);
        break;
      case mjJNT_BALL: {
        const btQuaternion link = body_to_link_[m->jnt_bodyid[j]].getRotation();
        const btScalar* p = mb->getJointPosMultiDof(s.link);
        const btQuaternion q = link * btQuaternion(p[0], p[1], p[2], p[3]) * link.inverse();
        store_wxyz(q.normalized(), d->qpos + qa);
        const btScalar* v = mb->getJointVelMultiDof(s.link);
        const btVector3 w = btMatrix3x3(link) * btVector3(v[0], v[1], v[2]);
        for (int k = 0; k < 3; ++k)
          d->qvel[va + k] = w[k];
        break;
      }
      case mjJNT_FREE: {
        const btTransform body =
            mb->getBaseWorldTransform() * body_to_link_[m->jnt_bodyid[j]].inverse();
        for (int k = 0; k < 3; ++k)
          d->qpos[qa + k] = body.getOrigin()[k];
        store_wxyz(body.getRotation().normalized(), d->qpos + qa + 3);
        const btVector3 omega = mb->getBaseOmega();
        const btVector3 arm = body.getBasis() * body_to_link_[m->jnt_bodyid[j]].getOrigin();
        const btVector3 v = mb->getBaseVel() - omega.cross(arm);
        const btVector3 w = body.getBasis().transpose() * omega;
        for (int k = 0; k < 3; ++k) {
          d->qvel[va + k] = v[k];
          d->qvel[va + 3 + k] = w[k];
        }
        break;
      }
    }
  }
}

void BtWorld::update_colliders() {
  for (std::size_t i = 0; i < objects_.size(); ++i) {
    const Collider& c = colliders_[i];
    if (c.tree < 0) continue;
    const btMultiBody* mb = bodies_[c.tree].get();
    const btTransform link =
        c.link < 0 ? mb->getBaseWorldTransform() : mb->getLink(c.link).m_cachedWorldTransform;
    objects_[i]->setWorldTransform(link * c.offset);
  }
}

void BtWorld::substep(std::span<const float> ctrl) {
  const mjModel* m = mjm();
  const double dt = m->opt.timestep;
  for (auto& mb : bodies_)
    mb->clearForcesAndTorques();
  // Actuators: MuJoCo's affine force gain * ctrl + b0 + b1 * length + b2 * velocity on a joint
  // transmission (length = gear * q), clamped to the force range, applied as gear * force.
  const bool actuation = !(m->opt.disableflags & mjDSBL_ACTUATION);
  for (int a = 0; a < m->nu; ++a) {
    const int j = m->actuator_trnid[2 * a];
    const int qa = m->jnt_qposadr[j];
    double u = ctrl[a];
    if (m->actuator_ctrllimited[a] && !(m->opt.disableflags & mjDSBL_CLAMPCTRL))
      u = std::clamp(u, m->actuator_ctrlrange[2 * a], m->actuator_ctrlrange[2 * a + 1]);
    const double gear = m->actuator_gear[6 * a];
    const double q = joint_q(j) + m->qpos0[qa], qd = joint_qd(j);
    const mjtNum* bias = m->actuator_biasprm + mjNBIAS * a;
    double force = m->actuator_gainprm[mjNGAIN * a] * u;
    if (m->actuator_biastype[a] == mjBIAS_AFFINE)
      force += bias[0] + bias[1] * gear * q + bias[2] * gear * qd;
    if (m->actuator_forcelimited[a])
      force = std::clamp(force, m->actuator_forcerange[2 * a], m->actuator_forcerange[2 * a + 1]);
    actuator_force_[a] = actuation ? force : 0.0;
    const JointSlot& s = model_->joint_slots()[j];
    bodies_[s.tree]->addJointTorque(s.link, gear * actuator_force_[a]);
  }
  // Passive forces applied explicitly: joint springs, and a free joint's damping (hinge, slide
  // and ball damping is implicit: implicit_torques()).
  if (!(m->opt.disableflags & mjDSBL_PASSIVE)) {
    for (int j = 0; j < m->njnt; ++j) {
      const JointSlot& s = model_->joint_slots()[j];
      btMultiBody* mb = bodies_[s.tree].get();
      const int va = m->jnt_dofadr[j], qa = m->jnt_qposadr[j];
      switch (m->jnt_type[j]) {
        case mjJNT_HINGE:
        case mjJNT_SLIDE:
          if (m->jnt_stiffness[j] != 0)
            mb->addJointTorque(s.link, -m->jnt_stiffness[j] * (mb->getJointPos(s.link) +
                                                               m->qpos0[qa] - m->qpos_spring[qa]));
          break;
        case mjJNT_FREE: {
          if (m->dof_damping[va] != 0) mb->addBaseForce(-m->dof_damping[va] * mb->getBaseVel());
          if (m->dof_damping[va + 3] != 0)
            mb->addBaseTorque(-m->dof_damping[va + 3] * mb->getBaseOmega());
          break;
        }
      }
    }
  }
  for (std::size_t t = 0; t < bodies_.size(); ++t)
    if (!implicit_[t].empty()) implicit_torques(static_cast<int>(t));
  world_->stepSimulation(dt, 0, dt);
  update_colliders();
}

// Armature and joint damping the way MuJoCo integrates them: armature A adds to the joint-space
// mass matrix's diagonal, and damping D is implicit in the new velocity. Over the dofs S that
// have either, the acceleration solves (M + A + dt D) qdd = f - D v, where f holds everything
// else. With qdd0 = M^-1 f (Bullet's own acceleration, from a dry run of its articulated-body
// pass) and the columns of M^-1 (one acceleration-delta pass per dof):
//   (I + M^-1_SS K) qdd_S = qdd0_S - M^-1_SS D v_S,   K = A + dt D,
// and the extra joint torques -D v - K qdd make Bullet's explicit step land on that
// acceleration. Contacts and limits then act on top, as in MuJoCo's constraint stage.
void BtWorld::implicit_torques(int tree) {
  btMultiBody* mb = bodies_[tree].get();
  const auto& dofs = implicit_[tree];
  const mjModel* m = mjm();
  const double dt = m->opt.timestep;
  const int n = 6 + mb->getNumDofs(), s = static_cast<int>(dofs.size());
  v0_.assign(mb->getVelocityVector(), mb->getVelocityVector() + n);

  // Dry run with gravity (the world adds it only inside its step), then put the velocities back.
  const btVector3 g = world_->getGravity();
  mb->addBaseForce(g * mb->getBaseMass());
  for (int i = 0; i < mb->getNumLinks(); ++i)
    mb->addLinkForce(i, g * mb->getLinkMass(i));
  mb->computeAccelerationsArticulatedBodyAlgorithmMultiDof(dt, scratch_r_, scratch_v_, scratch_m_,
                                                           false, false, false);
  qdd0_.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    qdd0_[i] = (mb->getVelocityVector()[i] - v0_[i]) / dt;
  mb->setBaseOmega(btVector3(v0_[0], v0_[1], v0_[2]));
  mb->setBaseVel(btVector3(v0_[3], v0_[4], v0_[5]));
  for (int i = 0; i < mb->getNumLinks(); ++i)
    mb->setJointVelMultiDof(i, &v0_[6 + mb->getLink(i).m_dofOffset]);
  mb->addBaseForce(-g * mb->getBaseMass());
  for (int i = 0; i < mb->getNumLinks(); ++i)
    mb->addLinkForce(i, -g * mb->getLinkMass(i));

  // M^-1 restricted to S, then the s x s system, solved by Gaussian elimination with pivoting.
  unit_.assign(static_cast<std::size_t>(n), 0.0);
  column_.resize(static_cast<std::size_t>(n));
  system_.assign(static_cast<std::size_t>(s) * s, 0.0);
  rhs_.resize(static_cast<std::size_t>(s));
  auto gain = [&](int a) {
    return m->dof_armature[dofs[a].mj_dof] + dt * m->dof_damping[dofs[a].mj_dof];
  };
  for (int a = 0; a < s; ++a)
    rhs_[a] = qdd0_[dofs[a].index];
  for (int b = 0; b < s; ++b) {
    unit_[dofs[b].index] = 1;
    mb->calcAccelerationDeltasMultiDof(unit_.data(), column_.data(), scratch_r_, scratch_v_);
    unit_[dofs[b].index] = 0;
    const double damping = m->dof_damping[dofs[b].mj_dof] * v0_[dofs[b].index];
    for (int a = 0; a < s; ++a) {
      system_[a * s + b] = column_[dofs[a].index] * gain(b) + (a == b ? 1.0 : 0.0);
      rhs_[a] -= column_[dofs[a].index] * damping;
    }
  }
  for (int c = 0; c < s; ++c) {
    int pivot = c;
    for (int r = c + 1; r < s; ++r)
      if (std::abs(system_[r * s + c]) > std::abs(system_[pivot * s + c])) pivot = r;
    if (pivot != c) {
      for (int k = 0; k < s; ++k)
        std::swap(system_[c * s + k], system_[pivot * s + k]);
      std::swap(rhs_[c], rhs_[pivot]);
    }
    for (int r = c + 1; r < s; ++r) {
      const double f = system_[r * s + c] / system_[c * s + c];
      for (int k = c; k < s; ++k)
        system_[r * s + k] -= f * system_[c * s + k];
      rhs_[r] -= f * rhs_[c];
    }
  }
  for (int c = s - 1; c >= 0; --c) {
    double x = rhs_[c];
    for (int k = c + 1; k < s; ++k)
      x -= system_[c * s + k] * rhs_[k];
    rhs_[c] = x / system_[c * s + c];  // now qdd_S
  }
  for (int a = 0; a < s; ++a) {
    const double tau = -m->dof_damping[dofs[a].mj_dof] * v0_[dofs[a].index] - gain(a) * rhs_[a];
    mb->addJointTorqueMultiDof(dofs[a].link, dofs[a].k, tau);
  }
}

StepStatus BtWorld::step(std::span<const float> ctrl, int frame_skip) {
  if (params_changed_) rebuild();
  if (state_written_) {
    push_state();
    state_written_ = false;
  }
  const mjModel* m = mjm();
  mjData* d = mirror_.data();
  for (int a = 0; a < m->nu; ++a)
    d->ctrl[a] = ctrl[a];
  for (int k = 0; k < frame_skip; ++k) {
    if (k == frame_skip - 1) {
      // The velocities the last substep starts from (MuJoCo's layout), for accelerometers.
      pull_state();
      std::copy_n(d->qvel, m->nv, qvel_before_.data());
    }
    substep(ctrl);
    d->time += m->opt.timestep;
    if (state_is_bad()) return StepStatus::kDiverged;
  }
  read_out(/*stepped=*/true);
  for (int i = 0; i < m->nv; ++i)
    if (!std::isfinite(d->qacc[i]) || std::abs(d->qacc[i]) > kMaxValue)
      return StepStatus::kDiverged;  // MuJoCo's bad-qacc warning
  return StepStatus::kOk;
}

bool BtWorld::state_is_bad() const {
  auto bad = [](double x) { return !std::isfinite(x) || std::abs(x) > kMaxValue; };
  for (const auto& mb : bodies_) {
    for (int k = 0; k < 3; ++k)
      if (bad(mb->getBasePos()[k]) || bad(mb->getBaseVel()[k]) || bad(mb->getBaseOmega()[k]))
        return true;
    for (int i = 0; i < mb->getNumLinks(); ++i) {
      const int nq = mb->getLink(i).m_posVarCount, nv = mb->getLink(i).m_dofCount;
      const btScalar* q = mb->getJointPosMultiDof(i);
      const btScalar* v = mb->getJointVelMultiDof(i);
      for (int k = 0; k < nq; ++k)
        if (bad(q[k])) return true;
      for (int k = 0; k < nv; ++k)
        if (bad(v[k])) return true;
    }
  }
  return false;
}

// Is `p` (world) inside site `s`'s volume? MuJoCo's touch zone.
bool inside_site(const mjModel* m, const mjData* d, int s, const btVector3& p) {
  const btVector3 local = mat(d->site_xmat + 9 * s).transpose() * (p - vec(d->site_xpos + 3 * s));
  const mjtNum* size = m->site_size + 3 * s;
  const double x = local.x(), y = local.y(), z = local.z();
  switch (m->site_type[s]) {
    case mjGEOM_SPHERE:
      return local.length2() <= size[0] * size[0];
    case mjGEOM_CAPSULE: {
      const double zc = std::clamp(z, -size[1], size[1]);
      return x * x + y * y + (z - zc) * (z - zc) <= size[0] * size[0];
    }
    case mjGEOM_CYLINDER:
      return x * x + y * y <= size[0] * size[0] && std::abs(z) <= size[1];
    case mjGEOM_ELLIPSOID:
      return (x / size[0]) * (x / size[0]) + (y / size[1]) * (y / size[1]) +
                 (z / size[2]) * (z / size[2]) <=
             1;
    case mjGEOM_BOX:
    default:
      return std::abs(x) <= size[0] && std::abs(y) <= size[1] && std::abs(z) <= size[2];
  }
}

// Bullet's state into the mirror, then MuJoCo's kinematics and sensors on it. Contacts and the
// last substep's accelerations are Bullet's.
void BtWorld::read_out(bool stepped) {
  pull_state();
  const mjModel* m = mjm();
  mjData* d = mirror_.data();
  const double dt = m->opt.timestep;
  for (int i = 0; i < m->nv; ++i)
    d->qacc[i] = stepped ? (d->qvel[i] - qvel_before_[i]) / dt : 0.0;
  for (int a = 0; a < m->nu; ++a)
    d->actuator_force[a] = actuator_force_[a];
  d->ncon = 0;  // MuJoCo's own contacts and constraints are not this world's
  d->nefc = 0;
  mj_kinematics(m, d);
  mj_comPos(m, d);
  mj_camlight(m, d);
  mj_transmission(m, d);
  if (!(m->opt.disableflags & mjDSBL_SENSOR)) mj_sensorPos(m, d);
  mj_comVel(m, d);
  if (!(m->opt.disableflags & mjDSBL_SENSOR)) {
    mj_sensorVel(m, d);
    mj_sensorAcc(m, d);
  }

  // Contacts: counts per body, and touch sensors' normal forces in their zones.
  std::fill(contacts_.begin(), contacts_.end(), 0.0);
  const auto& touch = model_->touch_sensors();
  for (const auto& [sensor, site] : touch)
    d->sensordata[m->sensor_adr[sensor]] = 0;
  for (int i = 0; i < dispatcher_->getNumManifolds(); ++i) {
    const btPersistentManifold* manifold = dispatcher_->getManifoldByIndexInternal(i);
    const int g0 = manifold->getBody0()->getUserIndex(), g1 = manifold->getBody1()->getUserIndex();
    const int b0 = m->geom_bodyid[g0], b1 = m->geom_bodyid[g1];
    for (int p = 0; p < manifold->getNumContacts(); ++p) {
      const btManifoldPoint& point = manifold->getContactPoint(p);
      if (point.getDistance() > kMargin) continue;
      contacts_[b0] += 1;
      contacts_[b1] += 1;
      if (touch.empty() || !stepped) continue;
      const double force = point.getAppliedImpulse() / dt;
      for (const auto& [sensor, site] : touch) {
        const int body = m->site_bodyid[site];
        if (body == b0 && inside_site(m, d, site, point.getPositionWorldOnA()))
          d->sensordata[m->sensor_adr[sensor]] += force;
        else if (body == b1 && inside_site(m, d, site, point.getPositionWorldOnB()))
          d->sensordata[m->sensor_adr[sensor]] += force;
      }
    }
  }
}

void BtWorld::read(Quantity q, int index, std::span<double> out) const {
  switch (q) {
    case Quantity::kBodyContact:
      out[0] = contacts_[index];
      return;
    case Quantity::kActuatorForce:
      out[0] = actuator_force_[index];
      return;
    default:
      mirror_.read(q, index, out);
  }
}

void BtWorld::set_param(Param param, int index, double value) {
  mirror_.set_param(param, index, value);
  switch (param) {
    case Param::kGeomR:
    case Param::kGeomG:
    case Param::kGeomB:
    case Param::kLightPosX:
    case Param::kLightPosY:
    case Param::kLightPosZ:
    case Param::kLightDiffuse:
    case Param::kCameraPosX:
    case Param::kCameraPosY:
    case Param::kCameraPosZ:
    case Param::kActuatorGain:  // read every substep
    case Param::kActuatorForceLimit:
      return;
    case Param::kGravityZ:
      if (!(mjm()->opt.disableflags & mjDSBL_GRAVITY)) world_->setGravity(vec(mjm()->opt.gravity));
      return;
    case Param::kGeomFriction:
      for (std::size_t i = 0; i < objects_.size(); ++i)
        if (colliders_[i].geom == index && mjm()->geom_condim[index] != 1)
          objects_[i]->setFriction(value);
      return;
    default:  // masses, centres of mass, damping and armature (which dofs are integrated
              // implicitly), friction loss, softness: a new build
      params_changed_ = true;
  }
}

std::size_t BtWorld::bytes() const {
  std::size_t n = mirror_.bytes() + sizeof(btMultiBodyDynamicsWorld) + sizeof(btDbvtBroadphase) +
                  sizeof(btCollisionDispatcher) + sizeof(btMultiBodyConstraintSolver);
  for (const auto& mb : bodies_)
    n += sizeof(btMultiBody) +
         static_cast<std::size_t>(mb->getNumLinks()) * sizeof(btMultibodyLink) +
         static_cast<std::size_t>(6 + mb->getNumDofs()) * 8 * sizeof(btScalar);
  n += objects_.size() * (sizeof(btMultiBodyLinkCollider) + sizeof(Collider));
  n += static_cast<std::size_t>(dispatcher_->getNumManifolds()) * sizeof(btPersistentManifold);
  return n;
}

std::unique_ptr<World> BtModel::make_world(const ResetOptions& options) const {
  return std::make_unique<BtWorld>(std::static_pointer_cast<const BtModel>(shared_from_this()),
                                   options);
}

double BtModel::time_raw_loop(int worlds, int steps, int frame_skip,
                              const Buffer2D<float>& ctrl_table) const {
  const int nu = mj_->info().nu;
  SIMLAB_CHECK(ctrl_table.cols() == nu && ctrl_table.rows() > 0) << "ctrl table shape";
  std::vector<std::unique_ptr<BtWorld>> all;
  auto self = std::static_pointer_cast<const BtModel>(shared_from_this());
  for (int w = 0; w < worlds; ++w)
    all.push_back(std::make_unique<BtWorld>(self, ResetOptions{}));
  const auto start = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s)
    for (int w = 0; w < worlds; ++w)
      all[w]->raw_step(ctrl_table.row((w + s) % ctrl_table.rows()), frame_skip);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::shared_ptr<const Model> load(const ModelSource& source, const ArenaOptions& arena) {
  return std::make_shared<BtModel>(mujoco::load(source, arena), source);
}

const mujoco::MjWorld* mirror_of(const World& world) {
  const auto* bt = dynamic_cast<const BtWorld*>(&world);
  return bt ? &bt->mirror() : nullptr;
}

}  // namespace simlab::engine::physics::bullet
