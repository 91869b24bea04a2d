#!/usr/bin/env bash
# Measures the `postgres` sink against PostgreSQL's own loaders, on a
# throwaway server (scripts/pg-server.sh): the same N rows written
#   1. by `psql \copy` (COPY FROM STDIN, text format),
#   2. by multi-row INSERTs of 1,000 rows each, through psql,
#   3. by flowc: `generate` into `sink postgres` (insert, COPY), batch_size 10,000,
#   4. by flowc in upsert mode, batch_size 10,000,
# and prints rows per second and flowc's ratio to psql's COPY.
#
#   scripts/bench-postgres.sh [rows]        (default 1,000,000)
#
# Needs a release build (`cargo build --release`) and PostgreSQL's programs.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000000}"
flowc="${FLOWC:-target/release/flowc}"
[ -x "$flowc" ] || { echo "build flowc first: cargo build --release" >&2; exit 1; }

work="$(mktemp -d)"
chmod 755 "$work"
eval "$(scripts/pg-server.sh start "$work/pg")"
trap 'scripts/pg-server.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The rows flowc's generator makes, as COPY text: id, sensor, value, note, ts.
python3 - "$rows" "$work/rows.tsv" "$work/insert.sql" <<'PY'
import sys, datetime
n, tsv, sql = int(sys.argv[1]), sys.argv[2], sys.argv[3]
epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
with open(tsv, "w") as out, open(sql, "w") as ins:
    batch = []
    for i in range(n):
        ts = (epoch + datetime.timedelta(milliseconds=i)).isoformat()
        value = repr((i % 997) / 4.0)
        row = (i, i % 16, value, f"sensor-{i % 16}", ts)
        out.write("%d\t%d\t%s\t%s\t%s\n" % row)
        batch.append("(%d,%d,%s,'%s','%s')" % row)
        if len(batch) == 1000 or i == n - 1:
            ins.write("INSERT INTO t (id, sensor, value, note, ts) VALUES " + ",".join(batch) + ";\n")
            batch = []
PY

table() {
  psql -qX -c "DROP TABLE IF EXISTS t; CREATE TABLE t (id bigint NOT NULL, sensor bigint NOT NULL, value double precision NOT NULL, note text NOT NULL, ts timestamptz NOT NULL${1:-})"
}
seconds() { python3 -c "import time; print(time.time())"; }
rate() { python3 -c "print(f'{int($rows / ($2 - $1)):>12,}')"; }

table
start=$(seconds); psql -qX -c "\\copy t (id, sensor, value, note, ts) from '$work/rows.tsv'"; end=$(seconds)
copy_rate=$(rate "$start" "$end")

table
start=$(seconds); psql -qX -f "$work/insert.sql" >/dev/null; end=$(seconds)
insert_rate=$(rate "$start" "$end")

flow() {
  cat > "$work/bench.flow" <<FLOW
schema Row { id: int  sensor: int  value: float  note: string  ts: timestamp }
source rows: Row = generate(count = $rows) {
  id = seq  sensor = seq % 16  value = float(seq % 997) / 4.0  note = "sensor-" ++ str(seq % 16)  ts = epoch + seq * 1ms
}
rows | sink postgres(table = "t", batch_size = 10_000$1) @parallelism(1)
FLOW
  table "$2"
  start=$(seconds); "$flowc" run "$work/bench.flow" 2>/dev/null; end=$(seconds)
  [ "$(psql -qXtA -c 'select count(*) from t')" = "$rows" ] || { echo "flowc wrote the wrong number of rows" >&2; exit 1; }
  rate "$start" "$end"
}
flowc_rate=$(flow "" "")
upsert_rate=$(flow ", mode = upsert, key = id" ", PRIMARY KEY (id)")

ratio() { python3 -c "print(f'{${1//,/} / ${2//,/}:.2f}')"; }
echo "rows: $rows (5 columns), PostgreSQL $(psql -qXtA -c 'show server_version')"
echo "                                         rows/s   vs psql COPY"
echo "psql \\copy (COPY text)            $copy_rate          1.00"
echo "psql, INSERTs of 1,000 rows        $insert_rate          $(ratio "$insert_rate" "$copy_rate")"
echo "flowc sink, insert (COPY), 10k     $flowc_rate          $(ratio "$flowc_rate" "$copy_rate")"
echo "flowc sink, upsert, 10k            $upsert_rate          $(ratio "$upsert_rate" "$copy_rate")"
