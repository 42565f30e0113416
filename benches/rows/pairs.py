"""Times two commands in pairs whose order alternates, for rows whose single runs are
noisy (a shared machine): load hits both sides alike, and the median of the pairwise
differences says what the first adds.

    python3 pairs.py N OURS_CMD PEER_CMD

OURS_CMD and PEER_CMD are shell-quoted command lines. Prints one line to stdout:
    ours_median_ms peer_median_ms added
where `added` is the median pairwise difference with its bootstrap 95% interval and
each side's interquartile range (the row script's target column). Every time goes
to stderr.
"""

import random
import shlex
import statistics
import subprocess
import sys
import time


def once(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1e3


def main():
    n = int(sys.argv[1])
    ours_cmd, peer_cmd = shlex.split(sys.argv[2]), shlex.split(sys.argv[3])
    for _ in range(3):
        once(ours_cmd)
        once(peer_cmd)
    ours, peer = [], []
    for i in range(n):
        if i % 2:
            peer.append(once(peer_cmd))
            ours.append(once(ours_cmd))
        else:
            ours.append(once(ours_cmd))
            peer.append(once(peer_cmd))
    diff = [a - b for a, b in zip(ours, peer)]
    # A fixed seed: the interval of a given set of times is reproducible.
    rng = random.Random(1)
    boot = sorted(statistics.median(rng.choices(diff, k=len(diff))) for _ in range(2000))
    lo, hi = boot[int(0.025 * len(boot))], boot[int(0.975 * len(boot)) - 1]
    qo, qp = statistics.quantiles(ours, n=4), statistics.quantiles(peer, n=4)
    print(
        f"{statistics.median(ours):.4g} {statistics.median(peer):.4g} "
        f"median pair {statistics.median(diff):+.3g} ms (95% CI {lo:+.3g}..{hi:+.3g}), "
        f"IQR ours {qo[0]:.4g}-{qo[2]:.4g}, peer {qp[0]:.4g}-{qp[2]:.4g} ms"
    )
    print(f"pairs: ours {[round(t, 1) for t in ours]}", file=sys.stderr)
    print(f"pairs: peer {[round(t, 1) for t in peer]}", file=sys.stderr)


main()
