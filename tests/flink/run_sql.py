"""Runs Flink SQL scripts on PyFlink's local MiniCluster, one job after
another in one JVM, as the SQL client would run each script: `SET` lines
configure the job, `EXECUTE STATEMENT SET BEGIN … END;` runs its INSERTs
as one job, and anything else goes to `execute_sql`.

    python run_sql.py [--warm-up] NAME=FILE.sql …

Before each script it prints `=== NAME`, and after it `=== time NAME S`
(its seconds, from the first statement to the last job's end) and
`=== end NAME ok`, or `=== end NAME failed: …`, so a caller can cut stdout
(where the print connector writes) into the output of each job. With
`--warm-up` it first runs a trivial job and prints `=== start-up S`, the
seconds from its own start until then: the JVM's start-up, which every
later job is spared (benches/nexmark.rs reports both).
"""
import re
import sys
import time

STARTED = time.monotonic()

from pyflink.table import EnvironmentSettings, TableEnvironment


def statements(script):
    """The script's statements: `;`-separated outside quotes, comments dropped."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    text = "\n".join(lines)
    out, current, quote, block = [], [], None, False
    for i, c in enumerate(text):
        current.append(c)
        if quote:
            if c == quote:
                quote = None
        elif c in "'`":
            quote = c
        elif c == ";":
            statement = "".join(current).strip()
            if re.match(r"EXECUTE\s+STATEMENT\s+SET", statement, re.I) and not re.search(r"\bEND\s*;$", statement, re.I):
                continue  # a statement set runs to its END
            out.append(statement.rstrip(";").strip())
            current = []
    if "".join(current).strip():
        out.append("".join(current).strip())
    return out


def run(script):
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    # Fail at once rather than restart forever on a bad record.
    env.get_config().set("restart-strategy.type", "none")
    for statement in statements(script):
        setting = re.fullmatch(r"SET\s+'([^']+)'\s*=\s*'([^']*)'", statement, re.S)
        if setting:
            env.get_config().set(setting.group(1), setting.group(2))
            continue
        block = re.fullmatch(r"EXECUTE\s+STATEMENT\s+SET\s+BEGIN(.*)END", statement, re.S | re.I)
        if block:
            statement_set = env.create_statement_set()
            for insert in block.group(1).split(";\n"):
                if insert.strip():
                    statement_set.add_insert_sql(insert.strip().rstrip(";"))
            statement_set.execute().wait()
            continue
        result = env.execute_sql(statement)
        if statement.upper().startswith("INSERT"):
            result.wait()


def warm_up():
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.execute_sql("CREATE TABLE warm_up (n INT) WITH ('connector' = 'blackhole')")
    env.execute_sql("INSERT INTO warm_up VALUES (1)").wait()
    print(f"=== start-up {time.monotonic() - STARTED:.3f}", flush=True)


def main():
    arguments = sys.argv[1:]
    if arguments[:1] == ["--warm-up"]:
        arguments = arguments[1:]
        warm_up()
    for argument in arguments:
        name, path = argument.split("=", 1)
        print(f"=== {name}", flush=True)
        try:
            with open(path) as file:
                script = file.read()
            began = time.monotonic()
            run(script)
            print(f"=== time {name} {time.monotonic() - began:.3f}", flush=True)
            print(f"=== end {name} ok", flush=True)
        except Exception as error:  # noqa: BLE001 - reported to the caller
            message = str(error).splitlines()
            print(f"=== end {name} failed: {' | '.join(message[:3])}", flush=True)


if __name__ == "__main__":
    main()
