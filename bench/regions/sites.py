#!/usr/bin/env python3
"""sites.py EXE SHORT LONG STEPS: per-step OpenMP region figures of the
training steps between two ompshim reports (bench/regions/shim/ompshim.c) of
the same program run for fewer and for more steps (LONG - SHORT over STEPS
steps, so that set-up and the test loop cancel out). Addresses in EXE are
named with addr2line. Prints a table: regions per step, those with a team
of more than one thread, microseconds per region (wall, the master's body,
the other threads' start after the call, their longest body) and per step."""
import re
import subprocess
import sys


def load(path):
    sites = {}
    for line in open(path):
        key, *vals = line.split()
        sites[key] = [float(v) for v in vals]
    return sites


def main():
    exe, short, long_, steps = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    a, b = load(short), load(long_)
    exe_name = exe.rsplit('/', 1)[-1]
    names = {}

    def symbol(m):
        fname, off = m.group(1), m.group(2)
        if fname != exe_name:
            return fname.split('.so')[0] + '+' + off
        if off not in names:
            out = subprocess.run(['addr2line', '-f', '-s', '-e', exe, off],
                                 capture_output=True, text=True).stdout.split('\n')
            names[off] = out[0]
        return names[off]

    rows = []
    for key, v in b.items():
        d = [x - y for x, y in zip(v, a.get(key, [0.0] * 6))]
        if d[0] <= 0:
            continue
        caller, frame = key.split('|')
        name = re.sub(r'([^|+]+)\+(0x[0-9a-f]+)', symbol, caller)
        if frame != '-':
            name += ' <' + re.sub(r'([^|+]+)\+(0x[0-9a-f]+)', symbol, frame) + '>'
        rows.append((d[2], name, d))
    rows.sort(reverse=True)
    print(f"{'site':58s} {'n/step':>6s} {'team>1':>6s} {'us/call':>8s} {'master':>7s} "
          f"{'wake':>6s} {'worker':>7s} {'us/step':>8s}")
    total = n = multi = 0.0
    for t, name, (count, m, tot, master, wake, worker) in rows:
        print(f"{name[:58]:58s} {count / steps:6.2f} {m / steps:6.2f} {1e6 * tot / count:8.1f} "
              f"{1e6 * master / count:7.1f} {1e6 * wake / max(m, 1):6.1f} "
              f"{1e6 * worker / max(m, 1):7.1f} {1e6 * tot / steps:8.1f}")
        total += tot
        n += count
        multi += m
    print(f"total: {n / steps:.2f} regions per step, {multi / steps:.2f} with a team > 1, "
          f"{1e6 * total / steps:.0f} us per step inside them")


if __name__ == '__main__':
    main()
