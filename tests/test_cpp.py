"""Runs the C++ test binary (cpp/tests, registered with ctest) on every ISA path this machine can run.

The binary is built with CMake into build/ctest (incrementally) unless PYSPARSE_CPP_TESTS points at an existing
binary. A path the CPU cannot run (e.g. AVX-512 on a CPU without it) is reported as skipped with the reason.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build_tests() -> Path:
    given = os.environ.get("PYSPARSE_CPP_TESTS")
    if given:
        return Path(given)
    if shutil.which("cmake") is None:
        pytest.skip("cmake not found")
    build = ROOT / "build" / "ctest"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    if not (build / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), *gen, "-DCMAKE_BUILD_TYPE=Release",
                        "-DPYSPARSE_BUILD_TESTS=ON", "-DPYSPARSE_BUILD_PYTHON=OFF"], check=True,
                       capture_output=True)
    proc = subprocess.run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return build / "pysparse_tests"


@pytest.fixture(scope="module")
def test_binary():
    return _build_tests()


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512", "neon"])
def test_cpp_suite(test_binary, isa):
    from pysparse import _core

    if isa not in _core.supported_isas():
        pytest.skip(f"this CPU cannot run the {isa} path (supported: {_core.supported_isas()})")
    proc = subprocess.run([str(test_binary), "--isa", isa], capture_output=True, text=True, timeout=900)
    sys.stdout.write(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert " passed, 0 failed" in proc.stdout
