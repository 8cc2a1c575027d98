"""The `nvflare` shim on sys.path for a test module (`from tests.shim_path import setUpModule,
tearDownModule`), and every `nvflare` module forgotten afterwards."""

import os
import sys

SHIM_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flare_shim")


def setUpModule():
    sys.path.insert(0, SHIM_DIR)


def tearDownModule():
    sys.path.remove(SHIM_DIR)
    for name in [m for m in sys.modules if m == "nvflare" or m.startswith("nvflare.")]:
        del sys.modules[name]
