//! Front-end and planner speed: parses, checks and plans a generated
//! program of 10 000 pipelines (about 2 MB, 70 000 logical nodes), and
//! prints MB/s for parsing alone, for the whole front end, and operators
//! per second for planning and for drawing the plan in each format, best
//! of five. `cargo bench --bench front_end`.

use std::time::{Duration, Instant};

fn program(n_pipelines: usize) -> String {
    let mut text = String::from(
        "schema R { id: int, v: float, name: string, ts: timestamp }\n\
         source r: R = generate(count = 10) { id = seq, v = float(seq), name = str(seq), ts = epoch + seq * 1ms } \
         @watermark(delay = 0s)\n",
    );
    for i in 0..n_pipelines {
        text.push_str(&format!(
            "let s{i} = r | filter id % 7 != {} and v * 1.5 > {i}.0 | map {{ id, v, label = upper(name) ++ \"-{i}\", ts }}\n\
             s{i} | key_by id % 16 | window tumbling(1s) on ts {{ n = count(), total = sum(v) }} | sink discard\n",
            i % 7
        ));
    }
    text
}

fn best_of(runs: usize, mut work: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn main() {
    let text = program(10_000);
    let megabytes = text.len() as f64 / 1e6;
    let parse = best_of(5, || assert!(flowc::syntax::parse(&text).diagnostics.is_empty()));
    let front_end = best_of(5, || assert!(flowc::check::check_source(&text).program.is_some()));
    println!("program: {megabytes:.2} MB, {} lines", text.lines().count());
    println!("parse:            {:>7.1} ms  {:>6.2} MB/s", parse.as_secs_f64() * 1e3, megabytes / parse.as_secs_f64());
    println!(
        "parse + check:    {:>7.1} ms  {:>6.2} MB/s",
        front_end.as_secs_f64() * 1e3,
        megabytes / front_end.as_secs_f64()
    );

    let program = flowc::check::check_source(&text).program.expect("the program checks");
    let plan = flowc::plan::plan(&program).plan.expect("the program plans");
    let n_nodes = plan.logical.graph.node_count() as f64;
    let planning = best_of(5, || assert!(flowc::plan::plan(&program).plan.is_some()));
    println!(
        "plan:             {:>7.1} ms  {:>6.2} M logical nodes/s  ({} nodes, {} operators, {} tasks)",
        planning.as_secs_f64() * 1e3,
        n_nodes / planning.as_secs_f64() / 1e6,
        plan.logical.graph.node_count(),
        plan.operators.len(),
        plan.tasks.len()
    );
    use flowc::plan::explain::{explain, Format};
    for (name, format) in [("text", Format::Text), ("dot", Format::Dot), ("json", Format::Json)] {
        let mut size = 0;
        let drawing = best_of(5, || size = explain(&plan, format, "bench.flow", &text).len());
        println!(
            "explain {name:<5}     {:>7.1} ms  {:>6.2} M logical nodes/s  ({:.1} MB out)",
            drawing.as_secs_f64() * 1e3,
            n_nodes / drawing.as_secs_f64() / 1e6,
            size as f64 / 1e6
        );
    }
}
