#!/usr/bin/env python3
"""Prints the benchmark's results table (Markdown) from bench/run's results.tsv.

    summary.py RESULTS.tsv STAMP

Columns of results.tsv: tool, phase, devices, seconds, status, loadavg (1 5 15) at the
start of the measurement, detail. Older files name the durable floor `floor`; from the run
that added the least-work floor on, `floor` is the least work and `floor-durable` the old one.
"""

import os
import platform
import sys

rows = []
for line in open(sys.argv[1]):
    tool, phase, n, secs, status, load, detail = line.rstrip("\n").split("\t")
    rows.append(dict(tool=tool, phase=phase, n=int(n), secs=float(secs), status=status, load=load, detail=detail))
stamp = sys.argv[2]
by = {(r["tool"], r["phase"]): r for r in rows}

print(f"## Run {stamp}")
print()
print(f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}")
print()
print("| contender | devices | first run (s) | re-run (s) | deskready ÷ it, first | deskready ÷ it, re-run | status | load (1/5/15) at start: first run; re-run |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
dr = (by.get(("deskready", "first")), by.get(("deskready", "rerun")))
for tool in ["deskready", "floor", "floor-guarded", "floor-durable", "openssh", "pyinfra", "ansible"]:
    f, r = by.get((tool, "first")), by.get((tool, "rerun"))
    if not f:
        continue
    ratio_f = f"{dr[0]['secs'] / f['secs']:.2f}" if dr[0] else "-"
    ratio_r = f"{dr[1]['secs'] / r['secs']:.2f}" if dr[1] and r else "-"
    st = f["status"] if not r or r["status"] == f["status"] else f"{f['status']} / {r['status']}"
    print(f"| {tool} | {f['n']} | {f['secs']:.2f} | {r['secs'] if r else float('nan'):.2f} | {ratio_f} | {ratio_r} | {st} | {f['load']}; {r['load'] if r else '-'} |")
print()

targets = []
def t(name, ok, why):
    targets.append(f"- {'MET' if ok else 'MISSED'}: {name} ({why})")
if dr[0] and dr[1]:
    for tool, phase, idx, limit, what in [
        ("floor", "first", 0, 1.3, "the least-work floor"),
        ("floor", "rerun", 1, 1.1, "the least-work floor (rewrites the files)"),
        ("floor-guarded", "rerun", 1, 1.1, "the guarded least-work floor (one sha256sum + stat)"),
        ("floor-durable", "first", 0, 1.5, "the durable floor"),
        ("floor-durable", "rerun", 1, 1.5, "the durable floor"),
    ]:
        o = by.get((tool, phase))
        if o:
            q = dr[idx]["secs"] / o["secs"]
            t(f"deskready within {limit}x {what}, {phase}", q <= limit, f"{q:.2f}x")
    for phase, idx in [("first", 0), ("rerun", 1)]:
        o = by.get(("openssh", phase))
        if o:
            t(f"deskready faster than plain OpenSSH, {phase}", dr[idx]["secs"] < o["secs"], f"{dr[idx]['secs']:.2f}s vs {o['secs']:.2f}s")
        o = by.get(("pyinfra", phase))
        if o:
            q = o["secs"] / dr[idx]["secs"]
            t(f"deskready >= 5x faster than pyinfra, {phase}", q >= 5, f"{q:.1f}x")
        o = by.get(("ansible", phase))
        if o:
            q = o["secs"] / dr[idx]["secs"]
            t(f"deskready >= 50x faster than tuned ansible-core, {phase}", q >= 50, f"{q:.1f}x")

big = [r for r in rows if r["tool"].startswith("deskready-p")]
if big:
    print("| deskready scale | devices | phase | wall (s) | peak RSS (MB) | per-device ms (median / max) | status | load at start |")
    print("| --- | ---: | --- | ---: | ---: | --- | --- | --- |")
    for r in [x for x in rows if x["tool"] == "deskready"] + big:
        d = dict(kv.split("=", 1) for kv in r["detail"].split() if "=" in kv)
        print(f"| --parallel {r['tool'].split('-p')[-1] if '-p' in r['tool'] else 64} | {r['n']} | {r['phase']} | {r['secs']:.2f} | "
              f"{d.get('rss_mb', '?')} | {d.get('median', '?')} / {d.get('max', '?')} | {r['status']} | {r['load']} |")
    print()
    small = by.get(("deskready", "first"))
    for r in big:
        if small and r["phase"] == "first":
            grow = r["secs"] / small["secs"]
            t(f"{r['n']} devices ({r['tool']}) scale linearly or better from {small['n']}",
              grow <= r["n"] / small["n"], f"{grow:.1f}x the time for {r['n'] / small['n']:.0f}x the devices")
        d = dict(kv.split("=", 1) for kv in r["detail"].split() if "=" in kv)
        if "rss_mb" in d:
            t(f"peak RSS under 150 MB, {r['tool']} {r['phase']}", float(d["rss_mb"]) < 150, f"{d['rss_mb']} MB")

print("Targets:")
print("\n".join(targets))
print()
print("Details (as recorded):")
print()
for r in rows:
    print(f"- {r['tool']} {r['phase']}: {r['secs']:.3f}s [{r['status']}] {r['detail']}")
