#!/usr/bin/env python3
"""Summarises sn_probe_lut_timeline's per-warp records (run-gpu.sh step lut-timeline).

For each recorded launch: its span, the SM clock, and quantiles over the warps of when each step
happened (µs from the launch's first warp start): start, wait for the previous grid done, x in
shared memory, first and last recorded unit's codes arrived, decode done, end; then how long warps
decoded after their last recorded unit arrived, and how many warps were waiting for codes /
decoding in each slice of the launch. Development tooling for the GPU machine only.
"""
import csv
import statistics
import sys
from collections import defaultdict

UNIT_COLUMNS = [f"unit{i}" for i in range(7)]


def quantiles(values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]
    return f"{pick(0):7.2f} {pick(0.1):7.2f} {pick(0.5):7.2f} {pick(0.9):7.2f} {pick(1.0):7.2f}"


def main(path: str) -> int:
    launches = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (int(row["n"]), int(row["k"]), int(row["bits"]), int(row["stages"]), int(row["x_path"]),
                   float(row["us"]), int(row["launch"]))
            launches[key].append({k: (int(v) if k not in ("us",) else float(v)) for k, v in row.items()})
    for (n, k, bits, stages, x_path, us, launch), warps in launches.items():
        warps = [w for w in warps if w["gt_end"] > w["gt_start"] > 0]
        if not warps:
            print(f"{n}x{k} {bits}-bit stages {stages} x_path {x_path} launch {launch}: no records")
            continue
        ghz = statistics.median((w["clk_end"] - w["clk_start"]) / (w["gt_end"] - w["gt_start"]) for w in warps)
        t0 = min(w["gt_start"] for w in warps)
        starts = sorted(set(w["gt_start"] for w in warps))
        step = min((b - a for a, b in zip(starts, starts[1:]) if b > a), default=0)
        at = lambda w, column: (w["gt_start"] - t0) / 1000 + (w[column] - w["clk_start"]) / ghz / 1000
        units_recorded = lambda w: [c for c in UNIT_COLUMNS if w[c] != 0]
        span = (max(w["gt_end"] for w in warps) - t0) / 1000
        print(f"\n{n}x{k} {bits}-bit stages {stages or 'default'} x_path {x_path or 'default'} launch {launch}: "
              f"{len(warps)} warps on "
              f"{len(set(w['sm'] for w in warps))} SMs, span {span:.2f} us (graph median {us:.2f} us per launch), "
              f"SM clock {ghz:.2f} GHz, globaltimer step >= {step} ns")
        print(f"  {'event (us from first start)':<34} {'min':>7} {'p10':>7} {'p50':>7} {'p90':>7} {'max':>7}")
        for label, column in [("start", "clk_start"), ("codes requested", "requested"), ("previous grid done", "waited"),
                              ("x ready (ring: requested)", "x_ready"), ("unit 0 arrived", "unit0")]:
            print(f"  {label:<34} {quantiles([at(w, column) for w in warps])}")
        print(f"  {'last recorded unit arrived':<34} {quantiles([at(w, units_recorded(w)[-1]) for w in warps if units_recorded(w)])}")
        print(f"  {'decode done':<34} {quantiles([at(w, 'decoded') for w in warps])}")
        print(f"  {'end':<34} {quantiles([(w['gt_end'] - t0) / 1000 for w in warps])}")
        tail = [at(w, "decoded") - at(w, units_recorded(w)[-1]) for w in warps if units_recorded(w)]
        print(f"  {'decode after last recorded unit':<34} {quantiles(tail)}")
        gaps = [at(w, u[-1]) - at(w, u[0]) for w in warps for u in [units_recorded(w)] if len(u) > 1]
        if gaps:
            print(f"  {'first to last recorded unit':<34} {quantiles(gaps)}")
        # Warps alive, still waiting for their first unit, and decoding, per slice of the span.
        slices = 12
        width = span / slices
        print(f"  per {width:.2f} us slice: alive / waiting for unit 0 / past the last recorded unit")
        line = []
        for s in range(slices):
            t = (s + 0.5) * width
            alive = sum(1 for w in warps if (w["gt_start"] - t0) / 1000 <= t < (w["gt_end"] - t0) / 1000)
            waiting = sum(1 for w in warps if (w["gt_start"] - t0) / 1000 <= t < at(w, "unit0"))
            past = sum(1 for w in warps if units_recorded(w) and at(w, units_recorded(w)[-1]) <= t < at(w, "decoded"))
            line.append(f"{alive}/{waiting}/{past}")
        print("   " + " ".join(line))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
