#!/usr/bin/env python3
"""Splits a system-wide `perf record -a -g` profile into CPU per process: busy work vs spin-waiting vs idle.

usage: cpu-split.py PERF_DATA SECONDS LABEL=PID[,PID...]=ADDS_PER_SECOND ...
  e.g. cpu-split.py single.data 10 bookies=101,102,103=196000 client=104=98000

A sample counts as spin when its call chain holds a runtime wait that spins before it sleeps (the thread pool's
LowLevelLifoSemaphore, Task's InternalWaitCore, SpinWait, sched_yield), or when its leaf is a native address that the
profile itself shows called from such a wait (the runtime's pause loop, whose symbol libcoreclr does not export).
Busy work per operation = busy samples / sampling rate / (adds per second * seconds).
"""
import collections
import os
import re
import subprocess
import sys

SPIN_FRAMES = ("sched_yield", "LowLevelLifoSemaphore::Wait", "Task::InternalWaitCore", "SpinWait")


def samples(path):
    out = subprocess.run(["perf", "script", "-i", path, "-F", "pid,tid,comm,ip,sym,dso"],
                         capture_output=True, text=True, errors="replace", check=True).stdout
    for block in out.split("\n\n"):
        lines = [l for l in block.split("\n") if l.strip()]
        if not lines:
            continue
        head = re.match(r"\s*(.*?)\s+(\d+)/(\d+)", lines[0])
        if head:
            yield int(head.group(2)), [l.strip() for l in lines[1:]]


def main():
    path, seconds, groups = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    rate = 999.0  # ledger-profile.sh records with perf record -F 999
    data = list(samples(path))
    spin_leaves = set()
    for _, frames in data:
        if frames and "libcoreclr" in frames[0] and any(k in f for f in frames[1:] for k in SPIN_FRAMES):
            spin_leaves.add(frames[0].split()[0])
    busy, spin = collections.Counter(), collections.Counter()
    idle = 0
    for pid, frames in data:
        if pid == 0:
            idle += 1
            continue
        chain = "\n".join(frames)
        if any(k in chain for k in SPIN_FRAMES) or (frames and frames[0].split()[0] in spin_leaves
                                                   and "libcoreclr" in frames[0]):
            spin[pid] += 1
        else:
            busy[pid] += 1
    used = (len(data) - idle) / rate / seconds
    print(f"{path}: {used:.2f} of {os.cpu_count()} cores in use (busy or spinning) over {seconds:g} s")
    for g in groups:
        label, pids, ops = g.split("=")
        pids = [int(p) for p in pids.split(",")]
        b = sum(busy[p] for p in pids)
        s = sum(spin[p] for p in pids)
        per_op = b / rate / (float(ops) * seconds) * 1e6
        print(f"  {label:<10} busy {b / rate / seconds:5.2f} cores  spin {s / rate / seconds:5.2f} cores  "
              f"busy CPU {per_op:5.2f} µs per add ({float(ops):,.0f} adds/s)")


if __name__ == "__main__":
    main()
