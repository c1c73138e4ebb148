"""Run every bench/*_bench.py in its own process; fail if any figure misses its target."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("*_bench.py")):
        print(f"== {script.stem}", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=HERE)
        if result.returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nMISSED targets in: {', '.join(failed)}")
        return 1
    print("\nEvery figure met its target.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
