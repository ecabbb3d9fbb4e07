"""Build the one-folder app bundle with PyInstaller, then prove it works.

    python packaging/build.py [--skip-build] [--no-test]

Builds ``dist/DescentLab/`` from ``packaging/descent_lab.spec``, prints the bundle's size,
runs the frozen app's ``--self-test`` offscreen (exit status 1 if it fails, so a broken
bundle cannot land) and times a frozen start-up to the first drawn window.

The same script builds on Linux, Windows and macOS (PyInstaller builds for the system it
runs on; there is no cross-compiling): run it on each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "descent_lab.spec"
DIST = ROOT / "dist"
BUNDLE = DIST / "DescentLab"
EXE = BUNDLE / ("DescentLab.exe" if sys.platform == "win32" else "DescentLab")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build() -> None:
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={DIST}",
        f"--workpath={ROOT / 'build' / 'pyinstaller'}",
        str(SPEC),
    ]
    print("building:", " ".join(command), flush=True)
    t0 = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"built in {time.perf_counter() - t0:.0f} s", flush=True)


def frozen_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def self_test() -> int:
    print(f"running {EXE} --self-test", flush=True)
    done = subprocess.run([str(EXE), "--self-test"], env=frozen_env(), timeout=600)
    return done.returncode


def startup_time() -> float:
    """Seconds from launch to the first window drawn (``--startup-probe`` quits then)."""
    t0 = time.perf_counter()
    subprocess.run([str(EXE), "--startup-probe"], env=frozen_env(), timeout=120, check=True)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-build", action="store_true", help="test the existing bundle")
    parser.add_argument("--no-test", action="store_true", help="build only")
    args = parser.parse_args(argv)
    if not args.skip_build:
        build()
    if not EXE.exists():
        print(f"no bundle at {EXE}", file=sys.stderr)
        return 1
    print(f"bundle: {BUNDLE} — {folder_size(BUNDLE) / 2**20:.0f} MiB", flush=True)
    if args.no_test:
        return 0
    status = self_test()
    if status != 0:
        print(f"the frozen app's self-test failed (exit {status})", file=sys.stderr)
        return 1
    print(f"frozen start-up to first window: {startup_time():.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
