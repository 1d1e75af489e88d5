// Inline models for tests: small, fast, and next to the assertions that depend on them.
#pragma once

namespace simlab::test {

// A pendulum on a slider with one sensor and a keyframe: the smallest model with every feature
// the engine reads (qpos, qvel, sensordata, a limited actuator, a keyframe).
inline constexpr const char* kPendulumXml = R"(
<mujoco model="pendulum">
  <option timestep="0.01"/>
  <size nconmax="4" njmax="16" nstack="4000"/>
  <worldbody>
    <body name="cart">
      <joint name="slider" type="slide" axis="1 0 0"/>
      <geom type="box" size="0.1 0.1 0.1" mass="1" contype="0" conaffinity="0"/>
      <body name="pole">
        <joint name="hinge" type="hinge" axis="0 1 0"/>
        <geom type="capsule" fromto="0 0 0 0 0 1" size="0.04" mass="0.1" contype="0" conaffinity="0"/>
        <site name="tip" pos="0 0 1"/>
      </body>
    </body>
  </worldbody>
  <actuator><motor name="push" joint="slider" gear="10" ctrllimited="true" ctrlrange="-1 1"/></actuator>
  <sensor><framepos name="tip" objtype="site" objname="tip"/></sensor>
  <keyframe><key name="tilted" qpos="0.5 0.3"/></keyframe>
</mujoco>
)";

// A free-floating box falling onto a plane: contacts, a free joint (quaternion in qpos).
inline constexpr const char* kFallingBoxXml = R"(
<mujoco model="box">
  <option timestep="0.005"/>
  <size nconmax="16" njmax="64" nstack="10000"/>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="box" pos="0 0 0.5">
      <freejoint name="root"/>
      <geom type="box" size="0.1 0.1 0.1" mass="1"/>
    </body>
  </worldbody>
</mujoco>
)";

// A motor with an absurd gear and no control limit: ctrl 1e9 drives qacc past mjMAXVAL (1e10),
// MuJoCo's bad-qacc warning fires and the env must be reset, not crash.
inline constexpr const char* kExplodingXml = R"(
<mujoco model="exploding">
  <size nconmax="4" njmax="16" nstack="4000"/>
  <worldbody>
    <body name="b">
      <joint name="j" type="slide" axis="1 0 0"/>
      <geom type="sphere" size="0.1" mass="0.001" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator><motor name="m" joint="j" gear="1e6"/></actuator>
</mujoco>
)";

// The same two-link arm as URDF, which MuJoCo's compiler reads as well.
inline constexpr const char* kArmUrdf = R"(<?xml version="1.0"?>
<robot name="arm">
  <link name="base">
    <inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial>
  </link>
  <link name="upper">
    <inertial><origin xyz="0 0 0.25"/><mass value="0.5"/>
      <inertia ixx="0.01" iyy="0.01" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial>
  </link>
  <link name="lower">
    <inertial><origin xyz="0 0 0.2"/><mass value="0.3"/>
      <inertia ixx="0.005" iyy="0.005" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial>
  </link>
  <joint name="shoulder" type="revolute">
    <parent link="base"/><child link="upper"/><axis xyz="0 1 0"/>
    <limit lower="-1.5" upper="1.5" effort="10" velocity="5"/>
  </joint>
  <joint name="elbow" type="revolute">
    <parent link="upper"/><child link="lower"/><origin xyz="0 0 0.5"/><axis xyz="0 1 0"/>
    <limit lower="-2" upper="2" effort="5" velocity="5"/>
  </joint>
</robot>
)";

}  // namespace simlab::test
