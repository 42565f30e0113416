# Shared helpers for the row scripts that `scripts/bench` runs.
#
# A row script prints zero or more lines, tab-separated:
#   workload <TAB> ours <TAB> peer-name <TAB> peer <TAB> target
# `ours` and `peer` are a number followed by one unit of ns, us, ms, s, KB, MB
# (e.g. "41.2 ns"); `peer` and `peer-name` are "-" when the row has no peer.
# Diagnostics go to stderr so they never corrupt the table.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CARGO_TERM_COLOR=never

# criterion_ns <group/function[/param]>: the median of the last criterion run, in ns.
# An estimate older than this run of scripts/bench (SE_BENCH_START, seconds since the
# epoch) is refused, so a renamed or filtered-out bench never shows an old figure.
criterion_ns() {
  local f="$bench_root/target/criterion/$1/new/estimates.json"
  [ -f "$f" ] || { echo "no criterion estimate at $f" >&2; echo nan; return 1; }
  if [ -n "${SE_BENCH_START:-}" ] && [ "$(stat -c %Y "$f")" -lt "$SE_BENCH_START" ]; then
    echo "stale criterion estimate at $f (not measured in this run)" >&2; echo nan; return 1
  fi
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' "$f"
}

# fmt_time <ns>: the shortest honest unit for a duration given in ns.
fmt_time() {
  python3 - "$1" <<'PY'
import sys
v = float(sys.argv[1])
for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
    if v >= scale:
        print(f"{v/scale:.3g} {unit}"); break
else:
    print(f"{v:.3g} ns")
PY
}

# row <workload> <ours> <peer-name> <peer> <target>
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@"; }
