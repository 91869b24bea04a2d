//! Front-end speed: parses and checks a generated program of 10 000
//! pipelines (about 2 MB) and prints MB/s for parsing alone and for the
//! whole front end, best of five. `cargo bench --bench front_end`.

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
}
