#!/usr/bin/env python3
"""Turn a benches/compare.sh results dir into markdown tables (stdlib only).

usage: summarize.py RESULTS_DIR [NOTE]

Reads workloads.tsv, commands.tsv, failures.tsv, the hyperfine JSON exports
(WORKLOAD-SECTION.json) and the `/usr/bin/time -v` logs (time-TAG.txt).
"""

import csv
import glob
import json
import os
import re
import statistics
import sys

SECTIONS = [
    ("download", "Download only", "fetchpool get"),
    ("dlverify", "Download and verify SHA-256", "fetchpool get -c"),
    ("verify", "Verify a tree on disk (warm page cache)", "fetchpool verify"),
]
NOT_YET = "not yet measured"


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [row for row in csv.reader(f, delimiter="\t") if row]


def parse_time_v(path):
    """CPU seconds (user+sys) and max RSS (KiB) from GNU time -v output."""
    if not os.path.exists(path):
        return None, None
    text = open(path).read()
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    sys_ = re.search(r"System time \(seconds\): ([\d.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = float(user.group(1)) + float(sys_.group(1)) if user and sys_ else None
    return cpu, int(rss.group(1)) if rss else None


def load_results(rdir, wl, sec):
    """Results by command name from WL-SEC.json, or merged from the WL-SEC.roundK.json files
    that INTERLEAVE=1 writes. Statistics are recomputed from the raw times either way."""
    paths = [os.path.join(rdir, f"{wl}-{sec}.json")]
    paths += sorted(glob.glob(os.path.join(rdir, f"{wl}-{sec}.round*.json")))
    runs = {}
    for path in paths:
        if not os.path.exists(path):
            continue
        for r in json.load(open(path))["results"]:
            acc = runs.setdefault(r["command"], {"times": [], "cpu": []})
            acc["times"] += r["times"]
            acc["cpu"] += [r["user"] + r["system"]] * len(r["times"])
    out = {}
    for name, acc in runs.items():
        t = acc["times"]
        out[name] = {
            "times": t,
            "median": statistics.median(t),
            "mean": statistics.fmean(t),
            "stddev": statistics.stdev(t) if len(t) > 1 else 0.0,
            "min": min(t),
            "max": max(t),
            "cpu": statistics.fmean(acc["cpu"]),
        }
    return out


def fmt_s(x):
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def main():
    rdir = sys.argv[1]
    note = sys.argv[2].strip() if len(sys.argv) > 2 else ""
    workloads = read_tsv(os.path.join(rdir, "workloads.tsv"))[1:]
    commands = read_tsv(os.path.join(rdir, "commands.tsv"))
    load = {}
    for row in read_tsv(os.path.join(rdir, "load.tsv")):
        busy = f", CPUs {row[3]}% busy just before" if len(row) > 3 else ""
        load[(row[0], row[1])] = f"load average {row[2]}{busy}"
    failures = {(w, s, n): why for w, s, n, why in read_tsv(os.path.join(rdir, "failures.tsv"))}
    # Paced workloads: bytes/s per connection and the connections each tool was allowed.
    paced = {w: (int(bps), int(j)) for w, bps, j in read_tsv(os.path.join(rdir, "paced.tsv"))}

    for wl, files, nbytes in workloads:
        files, nbytes = int(files), int(nbytes)
        size = nbytes / files
        size_s = f"{size / 1024:.0f} KiB" if size < 1 << 20 else f"{size / (1 << 20):.0f} MiB"
        print(f"### {wl}: {files} files x {size_s} ({nbytes / (1 << 20):.0f} MiB)\n")
        if wl in paced:
            bps, jobs = paced[wl]
            print(
                f"Paced server: every TCP connection capped at {bps / (1 << 20):g} MiB/s. One"
                f" connection needs {nbytes / bps:.2f} s for these bytes; {jobs} connections"
                f" at least {nbytes / bps / jobs:.2f} s (the limit).\n"
            )
        for sec, title, fp_name in SECTIONS:
            rows = [(n, tag) for n, _cmd, tag in commands if tag.startswith(f"{wl}-{sec}-")]
            if not rows:
                continue
            results = load_results(rdir, wl, sec)
            fp = results.get(fp_name)
            where = f" ({load[(wl, sec)]})" if (wl, sec) in load else ""
            print(f"**{title}**{where}\n")
            print("| tool | median s | mean ± σ s | min…max s | peer/fetchpool "
                  "| files/s | MiB/s | CPU s mean | CPU s time -v | max RSS MiB |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            if fp_name not in (n for n, _ in rows):
                print(f"| {fp_name} | {NOT_YET} | | | | | | | | |")
            for name, tag in rows:
                r = results.get(name)
                if r is None:
                    why = failures.get((wl, sec, name), "no result")
                    print(f"| {name} | FAILED: {why} | | | | | | | | |")
                    continue
                med = r["median"]
                ratio = "1.00 (ref)" if r is fp else (f"{med / fp['median']:.2f}" if fp else "–")
                if (wl, sec, name) in failures:
                    name = f"{name} ({failures[(wl, sec, name)]})"
                cpu, rss = parse_time_v(os.path.join(rdir, f"time-{tag}.txt"))
                cpu_s = "?" if cpu is None else fmt_s(cpu)
                rss_s = "?" if rss is None else f"{rss / 1024:.1f}"
                print(
                    f"| {name} | {fmt_s(med)} | {fmt_s(r['mean'])} ± {fmt_s(r['stddev'] or 0)}"
                    f" | {fmt_s(r['min'])}…{fmt_s(r['max'])} | {ratio}"
                    f" | {files / med:,.0f} | {nbytes / (1 << 20) / med:,.0f}"
                    f" | {fmt_s(r['cpu'])} | {cpu_s} | {rss_s} |"
                )
            print()
    runs = set()
    for wl, *_ in workloads:
        for sec, *_ in SECTIONS:
            for r in load_results(rdir, wl, sec).values():
                runs.add(len(r["times"]))
    print(
        f"Wall times: hyperfine, {'/'.join(map(str, sorted(runs))) or '?'} timed runs per command"
        " after the warmup; peer/fetchpool > 1 means fetchpool is faster. Each download run"
        " writes into a fresh, randomly named directory. CPU s mean: hyperfine's mean user+sys"
        " over the timed runs. CPU s time -v and max RSS: one more run under `/usr/bin/time -v`"
        " after the timed runs. Every command is checked before and after the timed runs (exit"
        " 0; downloads: exactly the expected files, all matching SHA256SUMS). CPU s sums every"
        " process that was waited for (the tool, its reaped children such as fetchpool's hash"
        " workers, and for `A && B` both A and B); max RSS is that of the largest single such"
        " process, not a sum. nginx's CPU is not counted."
    )
    if note:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
