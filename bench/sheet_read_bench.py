"""Time read_roster on a generated 50,000-row spreadsheet; print the median of 3 runs.

Run from the repository root: python bench/sheet_read_bench.py [rows]
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import date
from pathlib import Path

# The checkout this script is in, not whichever webapp the interpreter finds first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp.roster import read_roster  # noqa: E402

GRADES = ("KG", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")


def spreadsheet(rows: int) -> bytes:
    """Return a people CSV: ID, first, last, email, grade, role."""
    lines = ["ID,First Name,Last Name,Email,Grade,Role"]
    for n in range(rows):
        role = "teacher" if n % 25 == 0 else "student"
        grade = "" if role == "teacher" else GRADES[n % len(GRADES)]
        lines.append(f"S{n:06d},Given{n % 700},Family{n % 900},p{n}@school.example,{grade},{role}")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    data = {"people.csv": spreadsheet(rows)}
    times = []
    for _ in range(3):
        start = time.perf_counter()
        roster = read_roster(data, format="csv", today=date(2026, 1, 1))
        times.append(time.perf_counter() - start)
        assert len(roster.people) == rows, (len(roster.people), roster.problems[:3])
    print(f"{rows} rows: median {statistics.median(times):.3f}s of {[round(t, 3) for t in times]}")


if __name__ == "__main__":
    main()
