#!/usr/bin/env python3
"""The spec part of issue 20's bad-input campaign, reproducible: every numeric value of three
built-in scene specs replaced, one at a time, by nan, inf, -inf, -1, 0, 1e9, 1e300 and a string,
each checked with `simlab scenes check`. Prints how many were refused cleanly (exit 2 with a
located message), accepted (exit 0) and how many crashed (a signal or any other exit code).

    python3 tests/campaign/spec_values.py build/tools/simlab [--json OUT]

Accepted is not necessarily wrong (0 or 1e9 is a fine value for many keys); a crash always is.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPECS = ["cartpole-balance", "push", "quadruped"]
VALUES = ["nan", "inf", "-inf", "-1", "0", "1e9", "1e300", '"x"']
# key = number, or a number inside [..] on a key line (not in comments)
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def cases(text):
    lines = text.split("\n")
    for i, line in enumerate(lines):
        code = line.split("#", 1)[0]
        if "=" not in code:
            continue
        key, value = code.split("=", 1)
        start = len(key) + 1
        for m in NUMBER.finditer(value):
            yield i, start + m.start(), start + m.end(), key.strip()


def main():
    simlab = sys.argv[1]
    out = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    totals = {"tried": 0, "refused": 0, "accepted": 0, "crashed": 0}
    crashes = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for name in SPECS:
            src = os.path.join(ROOT, "scenes", "specs", name + ".toml")
            text = open(src).read()
            # Model paths resolve next to the spec first: point them at the built-in assets.
            text = re.sub(r'^model = "(.*)"', lambda m: 'model = "%s"' % os.path.join(
                ROOT, "assets", m.group(1)), text, flags=re.M)
            lines = text.split("\n")
            for i, a, b, key in cases(text):
                for v in VALUES:
                    mutated = list(lines)
                    mutated[i] = lines[i][:a] + v + lines[i][b:]
                    path = os.path.join(tmp, "%s-%d.toml" % (name, len(jobs)))
                    with open(path, "w") as f:
                        f.write("\n".join(mutated))
                    jobs.append((name, i, key, v, path))

        def check(job):
            return job, subprocess.run([simlab, "scenes", "check", job[4]], capture_output=True,
                                       text=True, timeout=300)

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for (name, i, key, v, _), r in pool.map(check, jobs):
                totals["tried"] += 1
                if r.returncode == 2 and "error:" in r.stderr:
                    totals["refused"] += 1
                elif r.returncode == 0:
                    totals["accepted"] += 1
                else:
                    totals["crashed"] += 1
                    crashes.append({"spec": name, "line": i + 1, "key": key, "value": v,
                                    "exit": r.returncode, "stderr": r.stderr[-400:]})
    print("spec values: %(tried)d tried, %(refused)d refused (exit 2), %(accepted)d accepted, "
          "%(crashed)d crashed" % totals)
    for c in crashes:
        print("  crash: %s.toml:%d %s = %s -> exit %d" % (c["spec"], c["line"], c["key"], c["value"],
                                                       c["exit"]))
    if out:
        with open(out, "w") as f:
            json.dump({"totals": totals, "crashes": crashes}, f, indent=2)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
