#!/usr/bin/env python3
"""Writes the fuzz seed corpus, tests/fuzz/corpus/TARGET/: the repo's own files (built-in scene
specs, the models in assets/models) and the bug campaign's bad cases, small files each.

    python3 tests/fuzz/make_corpus.py      (from anywhere; rewrites the generated seeds)

Campaign cases: every numeric field of a spec set to nan, inf, -1, 0, 1e9, 1e300 and a string,
one field per seed (so that every other field is valid and the bad one reaches as far as it can),
and one seed per value with all of them at once; models with NaN gravity and timesteps, a URDF
without transmissions, an empty model; event files truncated in each part of a record; shard,
checksum and observation-term records with out-of-range, mistyped and overflowing numbers."""
import json
import pathlib
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
VALUES = {"nan": "nan", "inf": "inf", "neg1": "-1", "zero": "0", "1e9": "1e9", "1e300": "1e300",
          "string": '"x"'}


def fresh(target):
    d = CORPUS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


# ---- scene specs --------------------------------------------------------------------------------
CARTPOLE = 'model = "models/cartpole.xml"\n'
PUSH = 'model = "models/push.xml"\n'
ARM = 'model = "models/planar-arm.urdf"\n'

# (name, base, TOML with {v} where the value goes); every other value is valid.
SPEC_FIELDS = [
    ("control_hz", CARTPOLE, "control_hz = {v}\n"),
    ("episode_seconds", CARTPOLE, "episode_seconds = {v}\n"),
    ("action_repeat", CARTPOLE, "action_repeat = {v}\n"),
    ("memory_margin", CARTPOLE, "memory_margin = {v}\n"),
    ("reset.qpos_noise", CARTPOLE, '[reset]\nkeyframe = "upright"\nqpos_noise = {v}\n'),
    ("reset.qvel_noise", CARTPOLE, "[reset]\nqvel_noise = {v}\n"),
    ("observation.noise", CARTPOLE,
     '[[observation]]\nterm = "joint_pos"\njoints = ["hinge"]\nnoise = {v}\n'),
    ("observation.count", PUSH,
     '[[observation]]\nterm = "bodies_pos"\nprefix = "object"\ncount = {v}\n'),
    ("reward.weight", CARTPOLE, '[[reward]]\nterm = "upright"\njoint = "hinge"\nweight = {v}\n'),
    ("reward.target", CARTPOLE,
     '[[reward]]\nterm = "joint_position"\njoint = "slider"\ntarget = {v}\n'),
    ("termination.min", CARTPOLE,
     '[[termination]]\nterm = "joint_out_of_range"\njoint = "hinge"\nmin = {v}\n'),
    ("termination.max", CARTPOLE,
     '[[termination]]\nterm = "joint_out_of_range"\njoint = "hinge"\nmax = {v}\n'),
    ("randomize.range_low", CARTPOLE,
     '[[randomize]]\nparam = "body_mass"\ntargets = ["pole"]\nrange = [{v}, 1.2]\n'),
    ("randomize.range_high", CARTPOLE,
     '[[randomize]]\nparam = "body_mass"\ntargets = ["pole"]\nrange = [0.8, {v}]\n'),
    ("randomize.range_one", CARTPOLE,
     '[[randomize]]\nparam = "gravity_z"\ntargets = ["*"]\noperation = "absolute"\nrange = {v}\n'),
    ("randomize.gaussian", CARTPOLE,
     '[[randomize]]\nparam = "joint_damping"\ntargets = ["*"]\ndistribution = "gaussian"\n'
     'range = [1.0, {v}]\n'),
    ("randomize.log_uniform", CARTPOLE,
     '[[randomize]]\nparam = "actuator_gain"\ntargets = ["slide"]\ndistribution = "log_uniform"\n'
     'range = [{v}, 2.0]\n'),
    ("randomize.heldout", CARTPOLE,
     '[[randomize]]\nparam = "body_mass"\ntargets = ["pole"]\nrange = [0.8, 1.2]\n'
     'heldout = [0.4, {v}]\n'),
    ("randomize.interval_seconds", CARTPOLE,
     '[[randomize]]\nparam = "push"\ntargets = ["pole"]\nmode = "interval"\n'
     'interval_seconds = {v}\noperation = "add"\nrange = [-0.5, 0.5]\n'),
    ("randomize.joint_position", CARTPOLE,
     '[[randomize]]\nparam = "joint_position"\ntargets = ["hinge"]\noperation = "add"\n'
     'range = [-0.05, {v}]\n'),
    ("procedural.variants", PUSH, "[procedural]\nvariants = {v}\n"),
    ("objects.count", PUSH, "[procedural]\n[[procedural.objects]]\ncount = [0, {v}]\n"),
    ("objects.count_low", PUSH, "[procedural]\n[[procedural.objects]]\ncount = {v}\n"),
    ("objects.size", PUSH, "[procedural]\n[[procedural.objects]]\nsize = [0.02, {v}]\n"),
    ("objects.mass", PUSH, "[procedural]\n[[procedural.objects]]\nmass = [{v}, 0.4]\n"),
    ("objects.region", PUSH,
     "[procedural]\n[[procedural.objects]]\nregion = [0.3, -0.25, {v}, 0.25]\n"),
    ("objects.z", PUSH, "[procedural]\n[[procedural.objects]]\nz = {v}\n"),
    ("objects.spacing", PUSH, "[procedural]\n[[procedural.objects]]\nspacing = {v}\n"),
    ("objects.friction", PUSH, "[procedural]\n[[procedural.objects]]\nfriction = {v}\n"),
    ("objects.contype", PUSH, "[procedural]\n[[procedural.objects]]\ncontype = {v}\n"),
    ("terrain.difficulty", CARTPOLE, "[procedural]\n[procedural.terrain]\ndifficulty = [0, {v}]\n"),
    ("terrain.half_size", CARTPOLE, "[procedural]\n[procedural.terrain]\nhalf_size = {v}\n"),
    ("terrain.resolution", CARTPOLE, "[procedural]\n[procedural.terrain]\nresolution = {v}\n"),
    ("terrain.max_height", CARTPOLE, "[procedural]\n[procedural.terrain]\nmax_height = {v}\n"),
    ("terrain.flat_radius", CARTPOLE, "[procedural]\n[procedural.terrain]\nflat_radius = {v}\n"),
    ("lights.count", PUSH, "[procedural]\n[procedural.lights]\ncount = [0, {v}]\n"),
    ("lights.height", PUSH, "[procedural]\n[procedural.lights]\nheight = [1, {v}]\n"),
    ("lights.diffuse", PUSH, "[procedural]\n[procedural.lights]\ndiffuse = [{v}, 0.8]\n"),
    ("camera.pos", CARTPOLE, '[[camera]]\nname = "c"\npos = [0, {v}, 1]\n'),
    ("camera.target", CARTPOLE, '[[camera]]\ntrack = "pole"\ntarget = [{v}, 0, 0]\n'),
    ("camera.fovy", CARTPOLE, "[[camera]]\nfovy = {v}\n"),
    ("camera.pos_noise", CARTPOLE, "[[camera]]\npos_noise = {v}\n"),
    ("camera.fovy_noise", CARTPOLE, "[[camera]]\nfovy_noise = {v}\n"),
    ("actuator.gear", ARM, '[[actuator]]\njoints = ["*"]\ngear = {v}\n'),
    ("actuator.kp", ARM, '[[actuator]]\ntype = "position"\njoints = ["shoulder"]\nkp = {v}\n'),
    ("actuator.ctrl_range", ARM, '[[actuator]]\njoints = ["elbow"]\nctrl_range = [-1, {v}]\n'),
    ("actuator.force_range", ARM, '[[actuator]]\njoints = ["*"]\nforce_range = [{v}, 5]\n'),
    ("corruption.obs_dropout", CARTPOLE, "[corruption]\nobs_dropout = {v}\n"),
    ("corruption.action_delay", CARTPOLE, "[corruption]\naction_delay = [0, {v}]\n"),
    ("corruption.action_delay_heldout", CARTPOLE,
     "[corruption]\naction_delay = [0, 1]\naction_delay_heldout = [0, {v}]\n"),
]


def scene_specs():
    d = fresh("scene_spec")
    for spec in sorted((ROOT / "scenes" / "specs").glob("*.toml")):
        shutil.copy(spec, d / spec.name)
    for field, base, toml in SPEC_FIELDS:
        for name, v in VALUES.items():
            (d / f"campaign-{field}-{name}.toml").write_text(base + toml.format(v=v))
    # Every field at once, per value: the errors are collected (up to 20) in one run.
    tables = {}
    for _, base, toml in SPEC_FIELDS:
        tables.setdefault(base, []).append(toml)
    for name, v in VALUES.items():
        top, rest = [], []
        for toml in tables[CARTPOLE]:
            (rest if toml.startswith("[") else top).append(toml.format(v=v))
        (d / f"campaign-all-{name}.toml").write_text(CARTPOLE + "".join(top) + "".join(rest))
    cases = {
        "empty-model": 'model = ""\n',
        "no-model": "control_hz = 50\n",
        "model-is-a-folder": 'model = "models"\n',
        "model-is-a-spec": 'model = "../scenes/specs/push.toml"\n',
        "urdf-without-actuators": ARM,
        "urdf-actuated": ARM + '[[actuator]]\njoints = ["*"]\ngear = 5\nforce_range = [-3, 3]\n'
                              '[[observation]]\nterm = "joint_pos"\njoints = ["*"]\n',
        "terrain-max": CARTPOLE + "[procedural]\nvariants = 2\n[procedural.terrain]\n"
                                  "kinds = [\"rough\", \"stairs\"]\nhalf_size = 5\n"
                                  "resolution = 0.01\n",
        "keyframe-unknown": CARTPOLE + '[reset]\nkeyframe = "upside"\n',
        "duplicate-keys": CARTPOLE + "control_hz = 50\ncontrol_hz = 60\n",
        "not-toml": "[[[[\n= = =\n\"\n",
        "huge-integer": CARTPOLE + "action_repeat = 99999999999999999999\n",
        "unknown-terms": CARTPOLE + '[[reward]]\nterm = "uprite"\njoint = "hing"\n'
                                    '[[observation]]\nterm = "joint_pos"\njoints = ["nope"]\n',
    }
    for name, text in cases.items():
        (d / f"campaign-{name}.toml").write_text(text)


# ---- models -------------------------------------------------------------------------------------
def models():
    d = fresh("model")
    for model in sorted((ROOT / "assets" / "models").iterdir()):
        if model.suffix in (".xml", ".urdf"):
            shutil.copy(model, d / model.name)
    body = ('<worldbody><body name="b" pos="0 0 1"><joint name="j" type="hinge"/>'
            '<geom type="sphere" size="0.1"/></body></worldbody>'
            '<actuator><motor joint="j" ctrlrange="-1 1" ctrllimited="true"/></actuator>')
    cases = {
        "empty.xml": "",
        "empty-mujoco.xml": "<mujoco/>",
        "empty-robot.urdf": "<robot name=\"r\"/>",
        "gravity-nan.xml": f'<mujoco><option gravity="0 0 nan"/>{body}</mujoco>',
        "gravity-inf.xml": f'<mujoco><option gravity="0 0 -inf"/>{body}</mujoco>',
        "timestep-zero.xml": f'<mujoco><option timestep="0"/>{body}</mujoco>',
        "timestep-negative.xml": f'<mujoco><option timestep="-0.01"/>{body}</mujoco>',
        "timestep-nan.xml": f'<mujoco><option timestep="nan"/>{body}</mujoco>',
        "timestep-tiny.xml": f'<mujoco><option timestep="1e-300"/>{body}</mujoco>',
        "timestep-huge.xml": f'<mujoco><option timestep="1e300"/>{body}</mujoco>',
        "ctrlrange-nan.xml": body.join(['<mujoco>', '</mujoco>']).replace('"-1 1"', '"nan 1"'),
        "size-negative.xml": f'<mujoco><size nstack="-1" njmax="-1" nconmax="-1"/>{body}</mujoco>',
        "size-huge.xml": f'<mujoco><size nconmax="2000000000"/>{body}</mujoco>',
        "mass-nan.xml": body.join(['<mujoco>', '</mujoco>']).replace(
            'size="0.1"/>', 'size="0.1" mass="nan"/>'),
        "keyframe-short.xml": f'<mujoco>{body}<keyframe><key qpos="1 2 3"/></keyframe></mujoco>',
        "include-missing.xml": f'<mujoco><include file="nope.xml"/>{body}</mujoco>',
        "mesh-missing.xml": '<mujoco><asset><mesh name="m" file="nope.stl"/></asset><worldbody>'
                            '<geom type="mesh" mesh="m"/></worldbody></mujoco>',
        "no-bodies.xml": '<mujoco><worldbody><geom type="plane" size="1 1 1"/></worldbody></mujoco>',
        "free-body.xml": '<mujoco><worldbody><body pos="0 0 1"><freejoint/><geom size="0.1"/>'
                         '</body></worldbody></mujoco>',
        "not-xml.xml": "<mujoco><worldbody><body></worldbody>",
    }
    urdf = (ROOT / "assets" / "models" / "planar-arm.urdf").read_text()
    cases["urdf-nan-origin.urdf"] = urdf.replace('xyz="0 0 0.12"', 'xyz="0 nan 0.12"')
    cases["urdf-zero-mass.urdf"] = urdf.replace('<mass value="0.5"/>', '<mass value="0"/>')
    for name, text in cases.items():
        (d / f"campaign-{name}").write_text(text)


# ---- event files --------------------------------------------------------------------------------
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def record(payload):
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", masked(length)) + payload +
            struct.pack("<I", masked(payload)))


def event(step, values):
    summary = b"".join(field(1, 2, v) for v in values)
    return field(1, 1, struct.pack("<d", 1.7e9)) + field(2, 0, varint(step)) + field(5, 2, summary)


def scalar(tag, x):
    return field(1, 2, tag.encode()) + field(2, 5, struct.pack("<f", x))


def text(tag, s):
    tensor = field(8, 2, s.encode())
    return field(1, 2, tag.encode()) + field(8, 2, tensor)


def event_files():
    d = fresh("event_file")
    version = field(1, 1, struct.pack("<d", 1.7e9)) + field(3, 2, b"brain.Event:2")
    good = (record(version) + record(event(100, [scalar("loss", 0.5), scalar("return", 12.0)])) +
            record(event(200, [text("config/text_summary", "```json\n{}\n```")])))
    cases = {
        "run.tfevents": good,
        "empty.tfevents": b"",
        "header-only.tfevents": good[:12],
        # 12 to 15 bytes after the last record: a header with no room for the payload CRC.
        "short-tail.tfevents": good + record(b"")[:12] + b"\0\0",
        "truncated-payload.tfevents": good[:-3],
        "length-huge.tfevents": struct.pack("<Q", 2**63) + struct.pack("<I", masked(
            struct.pack("<Q", 2**63))) + b"\0" * 8,
        "bad-crc.tfevents": good[:8] + b"\0\0\0\0" + good[12:],
        "payload-varint-overlong.tfevents": record(b"\xff" * 11),
        "payload-wire-types.tfevents": record(field(9, 1, b"\0" * 8) + field(10, 5, b"\0" * 4) +
                                              field(11, 0, varint(2**63)) + bytes([0x3b])),
        "nested-truncated.tfevents": record(field(5, 2, field(1, 2, field(8, 2, b"\x42\x05ab")))),
        "scalar-truncated.tfevents": record(field(5, 2, field(1, 2, b"\x15\x00\x00"))),
    }
    for name, data in cases.items():
        (d / f"{name}").write_bytes(data)


# ---- JSON records -------------------------------------------------------------------------------
def records():
    d = fresh("records")
    shard = {"format": "simlab-dataset-shard", "simlab_version": "0.1.0",
             "shard": {"index": 0, "count": 1}, "status": "complete", "episode_count": 2,
             "steps": 30, "job": {"scene": "cartpole-balance", "seed": 3, "episodes": 2},
             "episodes": [{"id": 0, "steps": 10, "hash": "0123456789abcdef"},
                          {"id": 1, "steps": 20, "hash": "fedcba9876543210"}],
             "file": "data.bin", "bytes": 12, "crc32": "bce27fde"}
    partial = dict(shard, status="partial", parts=["part-0.h5", "part-1.h5"])
    for k in ("file", "bytes", "crc32"):
        partial.pop(k)
    terms = [{"key": "joint_pos", "term": "joint_pos", "offset": 0, "size": 2,
              "names": ["slider", "hinge"]},
             {"key": "site_pos_goal", "term": "site_pos/goal", "offset": 2, "size": 3}]
    cases = {
        "shard-complete": shard,
        "shard-partial": partial,
        "checksum": {"file": "data.bin", "bytes": 12, "crc32": "bce27fde"},
        "checksum-wrong": {"bytes": 11, "crc32": "00000000"},
        "obs-terms": terms,
        "shard-count-huge": dict(shard, shard={"index": 0, "count": 2000000000}),
        "shard-index-negative": dict(shard, shard={"index": -5, "count": 1}),
        "shard-index-out-of-range": dict(shard, shard={"index": 7, "count": 2}),
        "shard-count-zero": dict(shard, shard={"index": 0, "count": 0}),
        "shard-index-float": dict(shard, shard={"index": 1e300, "count": 1}),
        "shard-steps-float": dict(shard, steps=1e300),
        "shard-bytes-negative": dict(shard, bytes=-1),
        "shard-bytes-float": dict(shard, bytes=1.5e300),
        "shard-episode-id-float": dict(shard, episodes=[{"id": -1e300, "steps": 1, "hash": ""}]),
        "shard-episodes-repeat": dict(shard, episodes=[shard["episodes"][0]] * 2),
        "shard-file-outside": dict(shard, file="/etc/hostname"),
        "shard-file-parent": dict(shard, file="../shard-00000-of-00001.json"),
        "shard-episodes-not-list": dict(shard, episodes={"id": 0}),
        "checksum-bytes-negative": {"bytes": -12, "crc32": "bce27fde"},
        "checksum-bytes-float": {"bytes": 1e300, "crc32": "bce27fde"},
        "obs-terms-size-float": [dict(terms[0], size=1e300)],
        "obs-terms-offset-overflow": [{"key": "a", "offset": 0, "size": 2147483647},
                                      {"key": "b", "offset": 2147483647, "size": 1},
                                      {"key": "c", "offset": 0, "size": 1}],
        "obs-terms-names-short": [dict(terms[0], names=["one"])],
        "obs-terms-object": {"key": "a", "offset": 0, "size": 1},
    }
    for name, value in cases.items():
        (d / f"{name}.json").write_text(json.dumps(value, indent=1) + "\n")
    (d / "deep-nesting.json").write_text("[" * 3000 + "]" * 3000)
    (d / "not-json.json").write_text('{"shard": {"index": 0,')


if __name__ == "__main__":
    scene_specs()
    models()
    event_files()
    records()
    total = sum(f.stat().st_size for f in CORPUS.rglob("*") if f.is_file())
    count = sum(1 for f in CORPUS.rglob("*") if f.is_file())
    print(f"{CORPUS}: {count} seeds, {total // 1024} KiB")
