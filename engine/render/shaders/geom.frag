#version 450
// Three outputs per pixel: lit colour, depth along the camera axis in metres (1 / w of the
// perspective divide), and the geom id for segmentation.
//
// Colour: the geom's rgba times its material's texture (2D textures mapped from the geom frame's
// xy, cube textures by the face a point lies on), lit by the env's own lights (diffuse, Lambert;
// randomized positions and colours included) over an ambient term. A model without lights gets a
// fixed key light, so every scene reads well.
layout(location = 0) in vec3 in_normal;
layout(location = 1) in vec3 in_world;
layout(location = 2) in vec3 in_local;
layout(location = 3) flat in int in_instance;

struct Instance {
  mat4 mvp;
  mat4 model;
  vec4 color;
  ivec4 ids;
  vec4 tex;
  vec4 size;
};
layout(std430, set = 0, binding = 0) readonly buffer Instances { Instance instances[]; };

const int kMaxLights = 4;
struct EnvLights {
  vec4 pos[kMaxLights];      // w: 1 directional
  vec4 dir[kMaxLights];
  vec4 diffuse[kMaxLights];
  ivec4 count;
};
layout(std430, set = 0, binding = 1) readonly buffer Lights { EnvLights lights[]; };

struct Texture {
  int offset;  // first texel in `texels`
  int width;
  int height;
  int cube;
};
layout(std430, set = 0, binding = 2) readonly buffer Textures { Texture textures[]; };
layout(std430, set = 0, binding = 3) readonly buffer Texels { uint texels[]; };  // RGBA8

layout(location = 0) out vec4 out_color;
layout(location = 1) out float out_depth;
layout(location = 2) out int out_id;

// Nearest texel at uv (wrapping) of face `face` (0 for 2D textures).
vec3 texel(Texture t, vec2 uv, int face) {
  int face_height = t.cube == 1 ? t.width : t.height;
  ivec2 p = min(ivec2(fract(uv) * vec2(t.width, face_height)), ivec2(t.width - 1, face_height - 1));
  int row = face * face_height + (face_height - 1 - p.y);  // rows run top to bottom
  return unpackUnorm4x8(texels[t.offset + row * t.width + p.x]).rgb;
}

vec3 texture_color(Instance inst) {
  Texture t = textures[inst.ids.y];
  if (t.cube == 1) {
    // The face a point lies on: the largest coordinate relative to the geom's size.
    vec3 q = in_local / max(inst.size.xyz, vec3(1e-6));
    vec3 a = abs(q);
    int face;
    vec2 uv;
    if (a.x >= a.y && a.x >= a.z) {
      face = q.x > 0 ? 0 : 1;
      uv = q.yz / a.x;
    } else if (a.y >= a.z) {
      face = q.y > 0 ? 2 : 3;
      uv = q.xz / a.y;
    } else {
      face = q.z > 0 ? 4 : 5;
      uv = q.xy / a.z;
    }
    return texel(t, uv * 0.5 + 0.5, face);
  }
  vec2 uv = inst.tex.z > 0.5 ? in_local.xy * inst.tex.xy
                             : (in_local.xy / max(2.0 * inst.size.xy, vec2(1e-6)) + 0.5) * inst.tex.xy;
  return texel(t, uv, 0);
}

void main() {
  Instance inst = instances[in_instance];
  vec3 base = inst.color.rgb;
  if (inst.ids.y >= 0) base *= texture_color(inst);
  vec3 n = normalize(in_normal);
  EnvLights env = lights[inst.ids.z];
  vec3 light;
  if (env.count.x == 0) {
    light = vec3(0.35 + 0.65 * max(dot(n, normalize(vec3(0.3, -0.5, 0.8))), 0.0));
  } else {
    light = vec3(0.3);
    for (int i = 0; i < min(env.count.x, kMaxLights); ++i) {
      vec3 l = env.pos[i].w > 0.5 ? -normalize(env.dir[i].xyz)
                                  : normalize(env.pos[i].xyz - in_world);
      light += env.diffuse[i].rgb * max(dot(n, l), 0.0);
    }
  }
  out_color = vec4(min(base * light, vec3(1.0)), 1.0);
  out_depth = 1.0 / gl_FragCoord.w;
  out_id = inst.ids.x;
}
