#version 450
// One draw per (env, geom): its instance record holds the clip transform, the world transform
// (for lighting), the colour and the segmentation id. Positions and normals are in the geom frame.
layout(location = 0) in vec3 in_pos;
layout(location = 1) in vec3 in_normal;

struct Instance {
  mat4 mvp;
  mat4 model;
  vec4 color;
  ivec4 ids;  // x: segmentation id (geom index)
};
layout(std430, set = 0, binding = 0) readonly buffer Instances { Instance instances[]; };

layout(location = 0) out vec3 out_normal;
layout(location = 1) out vec4 out_color;
layout(location = 2) flat out int out_id;

void main() {
  Instance inst = instances[gl_InstanceIndex];
  gl_Position = inst.mvp * vec4(in_pos, 1.0);
  out_normal = mat3(inst.model) * in_normal;
  out_color = inst.color;
  out_id = inst.ids.x;
}
