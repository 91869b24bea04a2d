"""The two workloads of benches/workloads/ in Flink SQL, on PyFlink's local
MiniCluster, timed; scripts/bench-flink.sh runs it beside flowc.

    python flink_workloads.py RECORDS KEYS [--runs R] [--expect FILE]
    python flink_workloads.py summarize WORKLOAD < flowc's print output

What it measures, all in one JVM (the Py4J gateway that PyFlink starts):

- `=== start-up IMPORT GATEWAY ENV WARM-UP`: seconds to import PyFlink, to
  start the JVM and its Py4J gateway, to create the first TableEnvironment,
  and to run a trivial warm-up job (as tests/flink/run_sql.py does). A cold
  one-shot Flink job pays at least IMPORT + GATEWAY + ENV more than the
  jobs timed here (and part of WARM-UP: a JVM's first job loads and
  compiles the planner).
- `=== time WORKLOAD P S1 S2 …`: each run's seconds of
  `execute_sql(INSERT …).wait()` at parallelism P (1 and 2), after the
  warm-up: planning, the job's own MiniCluster, generating RECORDS rows,
  the pipeline, the `blackhole` sink. Each run gets a fresh
  TableEnvironment; its DDL is not timed.
- `=== fixed WORKLOAD P S1 S2 …`: the same at 1,000 records, the fixed
  cost of a job (planning, its MiniCluster, deploying and finishing it).
- `=== check WORKLOAD P ok …`: the same SQL with the sink replaced by one
  global aggregate (rows, sums, windows) collected at parallelism P, at
  the same RECORDS and KEYS, compared with `--expect`, the summaries of
  flowc's `sink print` output that `summarize` made. A mismatch exits 1.

The source is a `datagen` table with a `sequence` column `seq`, 0 to
RECORDS − 1, and the flowc fields as computed columns (as `flowc export
--target flink-sql` writes them), so the keyed one's `ts` is a time
attribute with a WATERMARK. flowc's `ts = epoch + seq * 1us` becomes
milliseconds, `seq / 1000` (integer division), since Flink's time
attributes are TIMESTAMP_LTZ(3); the one-second windows hold the same
records, but 1,000 records share each millisecond. flowc's
`@watermark(delay = 0s)` is `ts - INTERVAL '0.001' SECOND`, not `ts`:
a flowc record is late when its time is below the watermark, a Flink
record when it is at or below it, and with `AS ts` Flink drops the
records of a millisecond after a watermark that lands on the last
millisecond of a window (at 20M records, parallelism 2: 96 of 9,949,760).
`rows-per-second` is set to 10^12: datagen's default is 10,000.
"""
import sys
import time

STARTED = time.monotonic()

WORKLOADS = ("stateless", "keyed_window")
FEW = 1000  # records of a job that shows the fixed cost of one


def source_ddl(workload, records, keys):
    """The `sales` table: flowc's generator as a datagen sequence."""
    fields = {
        "stateless": """
  id AS seq,
  amount AS CAST(seq % 1000 AS DOUBLE) / 10.0E0""",
        "keyed_window": f"""
  store AS CAST(seq % {keys} AS BIGINT),
  amount AS CAST(seq % 997 AS DOUBLE) / 10.0E0,
  ts AS TO_TIMESTAMP_LTZ(seq / 1000, 3),
  WATERMARK FOR ts AS ts - INTERVAL '0.001' SECOND""",
    }[workload]
    return f"""CREATE TABLE sales (
  seq BIGINT,{fields}
) WITH (
  'connector' = 'datagen',
  'fields.seq.kind' = 'sequence',
  'fields.seq.start' = '0',
  'fields.seq.end' = '{records - 1}',
  'rows-per-second' = '1000000000000'
)"""


# The pipeline after the source, as a view `pipeline_out` with flowc's output fields.
PIPELINE = {
    "stateless": [
        """CREATE TEMPORARY VIEW pipeline_out AS
SELECT id, amount * 1.2E0 + 1.0E0 AS taxed FROM sales WHERE amount > 50.0E0""",
    ],
    "keyed_window": [
        # A window TVF takes a table or view whose `ts` is still the time attribute.
        """CREATE TEMPORARY VIEW taxed AS
SELECT store, amount * 1.2E0 + 1.0E0 AS taxed, ts FROM sales WHERE amount > 50.0E0""",
        """CREATE TEMPORARY VIEW pipeline_out AS
SELECT store, window_start, window_end, COUNT(*) AS n, SUM(taxed) AS revenue
FROM TABLE(TUMBLE(TABLE taxed, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY store, window_start, window_end""",
    ],
}

SINK = {
    "stateless": "CREATE TABLE sink (id BIGINT, taxed DOUBLE) WITH ('connector' = 'blackhole')",
    "keyed_window": """CREATE TABLE sink (store BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3),
  n BIGINT, revenue DOUBLE) WITH ('connector' = 'blackhole')""",
}

# The summary of the output both engines are checked by: name -> Flink SQL
# over `pipeline_out`. Window starts are seconds since the epoch (UTC).
SUMMARY = {
    "stateless": {
        "rows": "COUNT(*)",
        "sum_id": "SUM(id)",
        "min_id": "MIN(id)",
        "max_id": "MAX(id)",
        "sum_taxed": "SUM(taxed)",
    },
    "keyed_window": {
        "rows": "COUNT(*)",
        "keys": "COUNT(DISTINCT store)",
        "windows": "COUNT(DISTINCT window_start)",
        "first_window": "MIN(UNIX_TIMESTAMP(CAST(window_start AS STRING)))",
        "last_window": "MAX(UNIX_TIMESTAMP(CAST(window_start AS STRING)))",
        "sum_n": "SUM(n)",
        "max_n": "MAX(n)",
        "sum_revenue": "SUM(revenue)",
    },
}


def environment(parallelism):
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("parallelism.default", str(parallelism))
    config.set("table.local-time-zone", "UTC")  # as flowc's export: windows and UNIX_TIMESTAMP in UTC
    config.set("restart-strategy.type", "none")  # fail at once, never retry
    return env


def prepare(workload, records, keys, parallelism):
    env = environment(parallelism)
    for statement in [source_ddl(workload, records, keys), *PIPELINE[workload]]:
        env.execute_sql(statement)
    return env


def timed_run(workload, records, keys, parallelism):
    env = prepare(workload, records, keys, parallelism)
    env.execute_sql(SINK[workload])
    began = time.monotonic()
    env.execute_sql("INSERT INTO sink SELECT * FROM pipeline_out").wait()
    return time.monotonic() - began


def flink_summary(workload, records, keys, parallelism):
    """The summary of `pipeline_out`, one global aggregate collected; mini-batches
    keep its changelog short. The last insert or update is its final value."""
    env = prepare(workload, records, keys, parallelism)
    config = env.get_config()
    config.set("table.exec.mini-batch.enabled", "true")
    config.set("table.exec.mini-batch.allow-latency", "1 s")
    config.set("table.exec.mini-batch.size", "100000")
    names = list(SUMMARY[workload])
    columns = ", ".join(f"{SUMMARY[workload][name]} AS `{name}`" for name in names)
    final = None
    with env.execute_sql(f"SELECT {columns} FROM pipeline_out").collect() as rows:
        for row in rows:
            if row.get_row_kind().name in ("INSERT", "UPDATE_AFTER"):
                final = row
    if final is None:
        raise SystemExit(f"Flink's check of {workload} at parallelism {parallelism} returned no row")
    return {name: final[i] for i, name in enumerate(names)}


def flowc_summary(workload, lines):
    """The same summary of flowc's `sink print` lines (`name=value …`)."""
    import datetime

    rows, sums, low, high, seen = 0, {}, {}, {}, {"store": set(), "window_start": set()}
    for line in lines:
        fields = dict(part.split("=", 1) for part in line.split())
        rows += 1
        if workload == "stateless":
            numbers = {"id": int(fields["id"]), "taxed": float(fields["taxed"])}
        else:
            start = datetime.datetime.fromisoformat(fields["window_start"].replace("Z", "+00:00"))
            numbers = {"n": int(fields["n"]), "revenue": float(fields["revenue"]), "window": int(start.timestamp())}
            seen["store"].add(fields["store"])
            seen["window_start"].add(numbers["window"])
        for name, value in numbers.items():
            sums[name] = sums.get(name, 0) + value
            low[name] = min(low.get(name, value), value)
            high[name] = max(high.get(name, value), value)
    if rows == 0:
        raise SystemExit(f"flowc's {workload} printed no records")
    if workload == "stateless":
        return {"rows": rows, "sum_id": sums["id"], "min_id": low["id"], "max_id": high["id"],
                "sum_taxed": sums["taxed"]}
    return {"rows": rows, "keys": len(seen["store"]), "windows": len(seen["window_start"]),
            "first_window": low["window"], "last_window": high["window"], "sum_n": sums["n"],
            "max_n": high["n"], "sum_revenue": sums["revenue"]}


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return a == b


def shown(summary):
    return " ".join(f"{name}={value}" for name, value in summary.items())


def read_expected(path):
    """`WORKLOAD name=value …` lines, as `summarize` prints them."""
    expected = {}
    with open(path) as file:
        for line in file:
            workload, *fields = line.split()
            expected[workload] = {k: (float(v) if "." in v or "e" in v else int(v))
                                  for k, v in (f.split("=", 1) for f in fields)}
    return expected


def warm_up():
    from pyflink.java_gateway import get_gateway
    from pyflink.table import EnvironmentSettings, TableEnvironment

    imported = time.monotonic()
    get_gateway()  # starts the JVM and its Py4J gateway
    gateway = time.monotonic()
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    created = time.monotonic()
    env.execute_sql("CREATE TABLE warm_up (n INT) WITH ('connector' = 'blackhole')")
    env.execute_sql("INSERT INTO warm_up VALUES (1)").wait()
    done = time.monotonic()
    print(f"=== start-up {imported - STARTED:.3f} {gateway - imported:.3f} {created - gateway:.3f} {done - created:.3f}",
          flush=True)


def main(arguments):
    if arguments[:1] == ["summarize"]:
        print(arguments[1], shown(flowc_summary(arguments[1], sys.stdin)))
        return
    records, keys = int(arguments[0]), int(arguments[1])
    runs = int(arguments[arguments.index("--runs") + 1]) if "--runs" in arguments else 3
    expected = read_expected(arguments[arguments.index("--expect") + 1]) if "--expect" in arguments else None
    warm_up()
    for workload in WORKLOADS:
        for parallelism in (1, 2):
            times = [timed_run(workload, records, keys, parallelism) for _ in range(runs)]
            print(f"=== time {workload} {parallelism} {' '.join(f'{t:.3f}' for t in times)}", flush=True)
            times = [timed_run(workload, FEW, keys, parallelism) for _ in range(runs)]
            print(f"=== fixed {workload} {parallelism} {' '.join(f'{t:.3f}' for t in times)}", flush=True)
    if expected is None:
        return
    for workload in WORKLOADS:
        for parallelism in (1, 2):
            theirs = flink_summary(workload, records, keys, parallelism)
            ours = expected[workload]
            wrong = [name for name in ours if not same(ours[name], theirs.get(name))]
            if wrong:
                print(f"=== check {workload} {parallelism} failed: {', '.join(wrong)} differ\n"
                      f"    flowc {shown(ours)}\n    Flink {shown(theirs)}", flush=True)
                sys.exit(1)
            print(f"=== check {workload} {parallelism} ok {shown(theirs)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
