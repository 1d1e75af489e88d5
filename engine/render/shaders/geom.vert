#version 450
// One draw per (env, geom): its instance record holds the clip transform, the world transform
// (for lighting), the colour, the ids and the texture mapping. Positions and normals are in the
// geom frame.
layout(location = 0) in vec3 in_pos;
layout(location = 1) in vec3 in_normal;

struct Instance {
  mat4 mvp;
  mat4 model;
  vec4 color;
  ivec4 ids;  // x: segmentation id (geom index); y: texture (-1: none); z: the env's light slot
  vec4 tex;   // xy: 2D repetitions; z: 1 when they are per metre (texuniform)
  vec4 size;  // xyz: the geom's size (half extents, radii)
};
layout(std430, set = 0, binding = 0) readonly buffer Instances { Instance instances[]; };

layout(location = 0) out vec3 out_normal;
layout(location = 1) out vec3 out_world;
layout(location = 2) out vec3 out_local;
layout(location = 3) flat out int out_instance;

void main() {
  Instance inst = instances[gl_InstanceIndex];
  gl_Position = inst.mvp * vec4(in_pos, 1.0);
  out_normal = mat3(inst.model) * in_normal;
  out_world = (inst.model * vec4(in_pos, 1.0)).xyz;
  out_local = in_pos;
  out_instance = gl_InstanceIndex;
}
