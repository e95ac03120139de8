#!/usr/bin/env python3
"""Summarises an Nsight Compute CSV of gpu__time_duration.sum (run-gpu.sh step profile=...).

One line per kernel (name without parameters, grid and block): launches, median, min and total
microseconds, largest total first. Development tooling for the GPU machine only; the product does
not use Python.
"""
import csv
import statistics
import sys
from collections import defaultdict

UNITS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6}


def main(path: str) -> int:
    with open(path, newline="", errors="replace") as f:
        lines = [line for line in f if not line.startswith("==")]
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        print(f"{path}: no ncu CSV header found", file=sys.stderr)
        return 1
    times = defaultdict(list)
    for row in csv.DictReader(lines[start:]):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        # keep template arguments (they tell variants apart), drop the parameter list
        full = row["Kernel Name"].replace("(anonymous namespace)::", "")
        depth, cut = 0, len(full)
        for i, ch in enumerate(full):
            if ch == "<":
                depth += 1
            elif ch == ">":
                depth -= 1
            elif ch == "(" and depth == 0 and i > 0:
                cut = i
                break
        name = full[:cut].replace("void ", "").replace("sn::cuda::", "")
        value = float(row["Metric Value"].replace(",", "")) * UNITS.get(row["Metric Unit"], 1.0)
        times[(name, row.get("Grid Size", ""), row.get("Block Size", ""))].append(value)
    rows = sorted(times.items(), key=lambda item: -sum(item[1]))
    total = sum(sum(v) for v in times.values())
    print(f"{'kernel':<70} {'grid':>14} {'block':>12} {'launches':>8} {'median us':>10} {'min us':>8} {'total us':>10}")
    for (name, grid, block), values in rows:
        print(f"{name[:70]:<70} {grid:>14} {block:>12} {len(values):>8} {statistics.median(values):>10.2f} "
              f"{min(values):>8.2f} {sum(values):>10.1f}")
    print(f"all kernels: {sum(len(v) for v in times.values())} launches, {total:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
