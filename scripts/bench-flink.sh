#!/usr/bin/env bash
# flowc beside Apache Flink's MiniCluster (PyFlink, Flink SQL) on the two
# workloads of benches/workloads/:
#   stateless     generate → filter → map → discard
#   keyed_window  generate → filter → map → key_by → tumbling(1s) count/sum → discard
# at parallelism 1 and 2, and prints one table of records/s (records the
# source made, over the time) and flowc's ratio to Flink.
#
#   scripts/bench-flink.sh [RECORDS] [KEYS]     (defaults 20000000 and 1000)
#
# RECORDS is flowc's record count. Flink is ~30× slower, so it gets its own,
# FLOWC_FLINK_RECORDS (default 2000000): compare rates, not times.
# FLOWC_BENCH_RUNS (default 3) sets the runs per figure; the best counts.
#
# flowc: $FLOWC or target/release/flowc. Its figure is RECORDS over the
# process's wall time, compile included (`flowc run -q --discard-sinks`),
# the best of the runs; the last column is the rate flowc's own summary
# reports (one run without -q), which leaves out parsing and compiling.
#
# Flink: $FLOWC_FLINK_PYTHON, else ~/.cache/flowc/flink-venv-2.3.0/bin/python,
# a Python with apache-flink 2.3 (and Java 17); without one only flowc runs.
# scripts/flink_workloads.py says what it times: each job's
# `execute_sql(…).wait()` in a JVM that already ran a warm-up job ("Flink
# rec/s", the ratio's), that plus the JVM's, gateway's and first
# TableEnvironment's start-up ("with start-up"), and that plus the warm-up
# job ("+ warm-up", tests/flink/run_sql.py's start-up: near what a one-shot
# job in a fresh JVM takes). The "fixed cost" is the same job's time at
# 1,000 records (planning, the job's MiniCluster, deployment); "net of it"
# takes that off the job's time, near Flink's rate on many more records.
#
# After the timed jobs it checks that both engines computed the same
# output: at Flink's record count, flowc's `sink print` output and Flink's,
# each summarized (rows, keys, windows, sums of counts and amounts), must
# agree, at Flink's parallelism 1 and 2. Any failure exits non-zero.
#
# The machine may be shared: the load average at the start and the end is
# printed (Flink itself keeps it near 2–3 while it runs), and each run's
# seconds under the table show the spread.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "bench-flink: $*" >&2; exit 1; }

records="${1:-20000000}"
keys="${2:-1000}"
flink_records="${FLOWC_FLINK_RECORDS:-2000000}"
runs="${FLOWC_BENCH_RUNS:-3}"
for n in "$records" "$keys" "$flink_records" "$runs"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "not a positive whole number: '$n' (usage: scripts/bench-flink.sh [RECORDS] [KEYS])"
done
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

# flowc
if [ -n "${FLOWC:-}" ]; then
  flowc="$FLOWC"
  [ -x "$flowc" ] || die "FLOWC=$flowc is not an executable"
else
  flowc=target/release/flowc
  if [ ! -x "$flowc" ]; then
    echo "bench-flink: no $flowc; building it: cargo build --release" >&2
    cargo build --release || die "cargo build --release failed"
  fi
fi

# PyFlink
python=""
if [ -n "${FLOWC_FLINK_PYTHON:-}" ]; then
  python="$FLOWC_FLINK_PYTHON"
elif [ -x "$HOME/.cache/flowc/flink-venv-2.3.0/bin/python" ]; then
  python="$HOME/.cache/flowc/flink-venv-2.3.0/bin/python"
fi
if [ -n "$python" ]; then
  flink_version="$("$python" -c 'import pyflink.version; print(pyflink.version.__version__)' 2>/dev/null)" \
    || die "$python has no apache-flink (import pyflink failed)"
  command -v java >/dev/null || die "PyFlink needs Java (17); no java on PATH"
else
  cat >&2 <<EOF
bench-flink: no Python with apache-flink; running flowc only. To add Flink:
  python3 -m venv ~/.cache/flowc/flink-venv-2.3.0
  ~/.cache/flowc/flink-venv-2.3.0/bin/pip install apache-flink==2.3.0
(or set FLOWC_FLINK_PYTHON to a Python that has it; Flink also needs Java 17)
EOF
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A copy, so a rebuild during the run cannot mix two binaries.
cp "$flowc" "$work/flowc"
flowc_built="$(date -r "$flowc" '+%Y-%m-%d %H:%M')"
flowc="$work/flowc"

# A workload's text with its record count (and key count) put in; fails
# when the text it replaces is not there exactly once.
workload() { # NAME COUNT SINK > FILE
  local text="benches/workloads/$1.flow"
  [ -f "$text" ] || die "no $text"
  [ "$(grep -c 'count = 20M' "$text")" = 1 ] || die "$text: no single 'count = 20M' to replace"
  if [ "$1" = keyed_window ]; then
    [ "$(grep -cE '^ *store *= seq % 1000$' "$text")" = 1 ] || die "$text: no single 'store = seq % 1000' line to replace"
  fi
  sed -E -e "s/count = 20M/count = $2/" \
    -e "s/^( *store *= seq % )1000$/\1$keys/" \
    -e "s/sink discard/sink $3/" "$text"
}

now() { date +%s.%N; }

# flowc: the best wall time of $runs quiet runs, and one run's own summary.
declare -A flowc_all flowc_summary_rate
for name in stateless keyed_window; do
  workload "$name" "$records" discard > "$work/$name.flow"
  for p in 1 2; do
    all=""
    for _ in $(seq "$runs"); do
      start=$(now)
      "$flowc" run "$work/$name.flow" --set "parallelism=$p" -q --discard-sinks \
        || die "flowc run $name at parallelism $p failed"
      end=$(now)
      all="$all $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
    done
    flowc_all[$name,$p]=$all
    # The summary: "FILE: ran 0.14 s: 20,000,000 records in, 9,980,000 out, 139,864,961/s"
    summary="$("$flowc" run "$work/$name.flow" --set "parallelism=$p" --discard-sinks 2>&1 >/dev/null | grep ': ran ')" \
      || die "flowc run $name printed no summary"
    seen="$(sed -E 's/.*: ([0-9,]+) records in.*/\1/' <<<"$summary" | tr -d ,)"
    [ "$seen" = "$records" ] || die "flowc's $name read $seen records, not $records: $summary"
    flowc_summary_rate[$name,$p]="$(sed -E 's/.* ([0-9,]+)\/s$/\1/' <<<"$summary" | tr -d ,)"
  done
done

# Flink, after the check data: flowc's print output at Flink's record count, summarized.
flink_ok=""
if [ -n "$python" ]; then
  : > "$work/expected.txt"
  for name in stateless keyed_window; do
    workload "$name" "$flink_records" print > "$work/$name-print.flow"
    "$flowc" run "$work/$name-print.flow" -q > "$work/$name-print.out" || die "flowc run $name with sink print failed"
    "$python" scripts/flink_workloads.py summarize "$name" < "$work/$name-print.out" >> "$work/expected.txt" \
      || die "could not summarize flowc's $name output"
  done
  echo "bench-flink: Flink $flink_version, $flink_records records, $keys keys: start-up, warm-up, $runs runs per job, then checks…" >&2
  if ! "$python" scripts/flink_workloads.py "$flink_records" "$keys" --runs "$runs" --expect "$work/expected.txt" \
      > "$work/flink.out" 2> "$work/flink.err"; then
    cat "$work/flink.out" >&2
    tail -30 "$work/flink.err" >&2
    die "the Flink jobs failed (above: the driver's output, then the end of its stderr)"
  fi
  flink_ok=1
fi
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# The table.
{
  echo "records $records"; echo "flink_records $flink_records"; echo "keys $keys"; echo "runs $runs"
  echo "load $load_start"; echo "load_end $load_end"
  echo "flowc_version $("$flowc" --version) (binary of $flowc_built)"
  [ -n "$flink_ok" ] && echo "flink_version $flink_version"
  for name in stateless keyed_window; do for p in 1 2; do
    echo "flowc $name $p ${flowc_summary_rate[$name,$p]}${flowc_all[$name,$p]}"
  done; done
  [ -n "$flink_ok" ] && grep '^=== ' "$work/flink.out"
} > "$work/results.txt"

python3 - "$work/results.txt" <<'PY'
import sys
facts, flowc, flink, fixed, checks = {}, {}, {}, {}, []
for line in open(sys.argv[1]):
    words = line.split()
    if words[0] == "flowc":
        flowc[words[1], words[2]] = (min(float(t) for t in words[4:]), float(words[3]), words[4:])
    elif words[:2] == ["===", "time"]:
        flink[words[2], words[3]] = [float(t) for t in words[4:]]
    elif words[:2] == ["===", "fixed"]:
        fixed[words[2], words[3]] = [float(t) for t in words[4:]]
    elif words[:2] == ["===", "start-up"]:
        startup = [float(t) for t in words[2:]]
    elif words[:2] == ["===", "check"]:
        checks.append(" ".join(words[2:]))
    else:
        facts[words[0]] = " ".join(words[1:])
records, flink_records = int(facts["records"]), int(facts["flink_records"])

def rate(n, seconds):
    r = n / seconds
    return f"{r / 1e6:.2f}M" if r >= 1e6 else f"{r / 1e3:.0f}k"

print(f"flowc beside Flink's MiniCluster: benches/workloads/, {facts['keys']} keys; records/s = the source's records over the time")
print(f"load average at start: {facts['load']} (at the end: {facts['load_end']}; 2 cores)")
print(f"flowc: {facts['flowc_version']}, {records:,} records, process wall time (compile included), best of {facts['runs']}")
if flink:
    imported, gateway, env, warm_up = startup
    startup_s = imported + gateway + env
    print(f"Flink: {facts['flink_version']}, {flink_records:,} records, execute_sql(...).wait() after a warm-up job, best of {facts['runs']}.")
    print(f"  'with start-up' adds {startup_s:.1f} s: import {imported:.1f} s, JVM + Py4J gateway {gateway:.1f} s, first TableEnvironment {env:.1f} s;")
    print(f"  '+ warm-up' adds the warm-up job's {warm_up:.1f} s too (a JVM's first job loads and compiles the planner),")
    print("  as tests/flink/run_sql.py's start-up does: closer to a one-shot job in a fresh JVM.")
    print("  'fixed cost': the same job at 1,000 records; 'net of it' takes it off the job's time.")
print()
print("| workload | p | flowc rec/s | Flink rec/s | Flink rec/s with start-up | Flink rec/s with start-up + warm-up | flowc / Flink | Flink fixed cost | Flink rec/s net of it | flowc's own summary rec/s |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in ("stateless", "keyed_window"):
    for p in ("1", "2"):
        seconds, own, _ = flowc[name, p]
        ours = records / seconds
        cells = [name, p, rate(records, seconds)]
        if flink:
            job, base = min(flink[name, p]), min(fixed[name, p])
            cells += [rate(flink_records, job), rate(flink_records, job + startup_s),
                      rate(flink_records, job + startup_s + warm_up), f"{ours / (flink_records / job):.1f}×",
                      f"{base:.2f} s", rate(flink_records, job - base) if job > base else "—"]
        else:
            cells += ["—"] * 6
        cells.append(f"{own / 1e6:.2f}M")
        print("| " + " | ".join(cells) + " |")
print()
print("Each run's seconds:")
for name in ("stateless", "keyed_window"):
    for p in ("1", "2"):
        line = f"  {name} p={p}: flowc {' '.join(flowc[name, p][2])}"
        if flink:
            line += f"; Flink {' '.join(f'{t:.3f}' for t in flink[name, p])}; Flink at 1,000 records {' '.join(f'{t:.3f}' for t in fixed[name, p])}"
        print(line)
if checks:
    print(f"Checked at {flink_records:,} records, flowc's `sink print` output against Flink's (summaries equal):")
    for check in checks:
        print("  " + check)
PY
