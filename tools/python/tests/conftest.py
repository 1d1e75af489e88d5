import os
import subprocess

import pytest


@pytest.fixture(scope="session")
def simlab_bin():
    """The simlab CLI of the same build (CTest sets SIMLAB_BIN)."""
    path = os.environ.get("SIMLAB_BIN")
    if not path or not os.path.exists(path):
        pytest.skip("SIMLAB_BIN is not set: run through ctest")
    return path


def run(simlab_bin, *args):
    r = subprocess.run([simlab_bin, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout
