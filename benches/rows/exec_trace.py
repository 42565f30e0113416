"""What a runtime wrapper adds to each runtime call inside real `docker run`s, read
from the kernel's scheduler trace rather than from the runs' wall time (which varies
by tens of milliseconds on a shared machine).

    perf record -e sched:sched_process_fork -e sched:sched_process_exec -a -o DATA -- CMD
    perf script -i DATA -F comm,pid,time,event,trace | python3 exec_trace.py

containerd's shim forks a child for every runtime call. With plain runc the child
execs runc; through se-runc it execs se-runc, which execs runc (a call to pass on),
or se-runc-create, which resolves and then execs runc (a create). For each such
child this reads the time from its fork to its exec of runc: the difference between
the wrapped calls and the plain ones is what the wrapper adds, measured in place,
with containerd, dockerd and the container around it untouched.

Prints one line: the medians in ms of the plain, create and passed-on calls, their
counts, and the calls through se-runc per `docker run` counted as se-runc creates.
Fails when a class has no call.
"""

import os
import re
import statistics
import sys

LINE = re.compile(r"^\s*(?P<comm>.+?)\s+(?P<pid>\d+)\s+(?P<time>\d+\.\d+):\s+(?P<event>\S+):\s+(?P<trace>.*)$")
FIELD = re.compile(r"(\w+)=(\S+)")


def main():
    forks = {}  # child pid -> [(time, parent pid, parent comm)], in time order
    execs = {}  # pid -> [(time, program)], in time order
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        fields = dict(FIELD.findall(m["trace"]))
        t = float(m["time"])
        if m["event"] == "sched:sched_process_fork":
            forks.setdefault(int(fields["child_pid"]), []).append((t, int(fields["pid"]), fields.get("comm", "")))
        elif m["event"] == "sched:sched_process_exec":
            execs.setdefault(int(fields["pid"]), []).append((t, os.path.basename(fields["filename"])))

    def fork_before(pid, t):
        """The fork that made the process `pid` was at time `t` (pids are reused)."""
        made = [f for f in forks.get(pid, []) if f[0] <= t]
        return made[-1] if made else None

    calls = {"plain": [], "create": [], "pass": []}
    for pid, seen in execs.items():
        for t, program in seen:
            if program != "runc":
                continue
            # Up to the shim's fork: a runtime dockerd gives runtimeArgs runs through
            # a shell script of dockerd's that forks the runtime (dockerd 20.10), a
            # cost of the call too.
            programs, chain, until, start = [], pid, t, None
            for _ in range(4):
                fork = fork_before(chain, until)
                if fork is None:
                    break
                programs = [p for s, p in execs.get(chain, []) if fork[0] <= s <= until] + programs
                if fork[2].startswith("containerd-shim"):
                    start = fork[0]
                    break
                # The fork event names the parent's thread, which for the one
                # parent followed up here (dockerd's sh script) is the process.
                chain, until = fork[1], fork[0]
            if start is None:
                continue
            if "se-runc-create" in programs:
                kind = "create"
            elif "se-runc" in programs:
                kind = "pass"
            else:
                kind = "plain"
            calls[kind].append((t - start) * 1e3)
    for kind, times in calls.items():
        if not times:
            programs = sorted({p for seen in execs.values() for _, p in seen})
            shim_forks = sum(1 for fs in forks.values() for _, _, comm in fs if comm.startswith("containerd-shim"))
            sys.exit(
                f"exec_trace: no {kind} runtime call in the trace "
                f"({shim_forks} forks by a shim; programs executed: {', '.join(programs)})"
            )
    per_run = (len(calls["create"]) + len(calls["pass"])) / len(calls["create"])
    med = {k: statistics.median(v) for k, v in calls.items()}
    print(
        f"{med['plain']:.4g} {med['create']:.4g} {med['pass']:.4g} "
        f"{len(calls['plain'])} {len(calls['create'])} {len(calls['pass'])} {per_run:.3g}"
    )


if __name__ == "__main__":
    main()
