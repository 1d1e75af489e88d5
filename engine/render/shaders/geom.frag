#version 450
// Three outputs per pixel: lit colour, depth along the camera axis in metres (1 / w of the
// perspective divide), and the geom id for segmentation.
layout(location = 0) in vec3 in_normal;
layout(location = 1) in vec4 in_color;
layout(location = 2) flat in int in_id;

layout(location = 0) out vec4 out_color;
layout(location = 1) out float out_depth;
layout(location = 2) out int out_id;

void main() {
  // A key light from above and behind the default camera plus ambient: enough shading to read
  // shapes; the same on every device.
  vec3 n = normalize(in_normal);
  vec3 light = normalize(vec3(0.3, -0.5, 0.8));
  float diffuse = max(dot(n, light), 0.0);
  out_color = vec4(in_color.rgb * (0.35 + 0.65 * diffuse), 1.0);
  out_depth = 1.0 / gl_FragCoord.w;
  out_id = in_id;
}
