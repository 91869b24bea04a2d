//! No input makes the front end or the planner panic or overflow the stack: random bytes,
//! random token soup, random mutations of the examples, and inputs built to
//! be deep. Test threads have a 2 MiB stack, smaller than the main thread's,
//! so passing here leaves a margin for `flowc` itself.

use std::fs;

use flowc::check::check_source;
use flowc::diag::{render, Code, RenderOptions};
use flowc::plan::explain::{explain, Format};
use flowc::plan::plan;
use proptest::prelude::*;

/// Formats, parses, checks and renders every diagnostic, as `flowc check`
/// does; then plans a clean program and draws the plan in every format.
fn front_end(text: &str) -> Vec<Code> {
    // `flowc fmt` reads the same inputs; it must not panic either.
    let _ = flowc::format::format(text);
    let checked = check_source(text);
    if let Some(program) = &checked.program {
        let planned = plan(program);
        for diagnostic in &planned.diagnostics {
            assert_ne!(diagnostic.code, Code::Internal, "the planner disagrees with check: {diagnostic:?}\n{text}");
        }
        if let Some(plan) = planned.plan {
            for format in [Format::Text, Format::Dot, Format::Json] {
                let _ = explain(&plan, format, "fuzz.flow", text);
            }
        }
    }
    for diagnostic in &checked.diagnostics {
        for label in &diagnostic.labels {
            assert!(label.span.end <= text.len(), "label {:?} beyond the text ({} bytes)", label.span, text.len());
            assert!(
                text.is_char_boundary(label.span.start) && text.is_char_boundary(label.span.end),
                "label {:?} splits a character",
                label.span
            );
        }
        let _ = render(diagnostic, "fuzz.flow", text, RenderOptions::default());
    }
    assert_eq!(
        checked.program.is_some(),
        !checked.diagnostics.iter().any(|d| d.is_error()),
        "a program comes exactly when there are no errors"
    );
    checked.diagnostics.iter().map(|d| d.code).collect()
}

fn examples() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut texts: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "flow"))
        .map(|path| fs::read_to_string(path).unwrap())
        .collect();
    texts.sort();
    texts
}

const TOKENS: &[&str] = &[
    "config",
    "schema",
    "source",
    "let",
    "union",
    "map",
    "filter",
    "key_by",
    "rebalance",
    "broadcast",
    "window",
    "aggregate",
    "top",
    "asc",
    "desc",
    "count_distinct",
    "join",
    "left",
    "interval",
    "where",
    "lookup",
    "by",
    "table",
    "throttle",
    "work",
    "sleep",
    "sink",
    "print",
    "discard",
    "file",
    "generate",
    "stdin",
    "nexmark",
    "kind",
    "bid",
    "events",
    "tumbling",
    "sliding",
    "session",
    "on",
    "if",
    "then",
    "else",
    "and",
    "or",
    "not",
    "true",
    "false",
    "seq",
    "epoch",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "float",
    "int",
    "string",
    "timestamp",
    "R",
    "r",
    "x",
    "ts",
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    "=",
    "==",
    "!=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "%",
    "++",
    "|",
    "@",
    "@parallelism(2)",
    "@name(\"n\")",
    "@watermark(delay = 1s)",
    "@no_chain",
    "1",
    "1_000",
    "2.5M",
    "1.5",
    "10ms",
    "100/s",
    "32KiB",
    "\"s\"",
    "\"\\q\"",
    "\"open",
    "//c\n",
    "\n",
    " ",
    "\t",
    "§",
    "é",
    "→x",
    "\u{feff}",
];

/// One edit to a program text: delete, duplicate or insert.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
    Insert { at: usize, token: usize },
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for edit in edits {
        let n = bytes.len().max(1);
        match *edit {
            Edit::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Edit::Duplicate { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                let piece = bytes[at.min(end)..end].to_vec();
                bytes.splice(end..end, piece);
            }
            Edit::Insert { at, token } => {
                let at = at % (bytes.len() + 1);
                let token = TOKENS[token % TOKENS.len()];
                bytes.splice(at..at, format!(" {token} ").into_bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 1..80usize).prop_map(|(at, len)| Edit::Duplicate { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Edit::Insert { at, token }),
    ]
}

proptest! {
    // 300 cases keep CI at a few seconds; `PROPTEST_CASES=20000` searches harder.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        front_end(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..120)) {
        let text: Vec<&str> = tokens.into_iter().map(|t| TOKENS[t]).collect();
        front_end(&text.join(" "));
    }

    #[test]
    fn mutated_examples_never_panic(example in 0..8usize, edits in proptest::collection::vec(edit_strategy(), 1..6)) {
        let examples = examples();
        front_end(&apply(&examples[example % examples.len()], &edits));
    }
}

const PRELUDE: &str = "schema R { id: int, ok: bool }\nsource r: R = generate(count = 1) { id = seq, ok = true }\n";

fn pipeline_with(filter: &str) -> String {
    format!("{PRELUDE}r | filter {filter}\n  | sink discard\n")
}

#[test]
fn deep_brackets_are_refused() {
    let text = pipeline_with(&format!("{}ok{}", "(".repeat(100_000), ")".repeat(100_000)));
    assert_eq!(front_end(&text), vec![Code::TooDeep]);
    let unclosed = pipeline_with(&"(".repeat(100_000));
    assert!(front_end(&unclosed).contains(&Code::TooDeep));
    let unions = format!("{PRELUDE}{}r{} | sink discard\n", "union(r, ".repeat(10_000), ")".repeat(10_000));
    assert!(front_end(&unions).contains(&Code::TooDeep));
}

#[test]
fn long_prefix_chains_are_refused() {
    assert_eq!(front_end(&pipeline_with(&format!("{}ok", "not ".repeat(100_000)))), vec![Code::TooDeep]);
    assert_eq!(front_end(&pipeline_with(&format!("{}id > 0", "- ".repeat(100_000)))), vec![Code::TooDeep]);
}

#[test]
fn long_operator_chains_are_refused() {
    let sum = vec!["id"; 100_000].join(" + ");
    assert_eq!(front_end(&pipeline_with(&format!("{sum} > 0"))), vec![Code::TooDeep]);
    let conditions = vec!["ok"; 100_000].join(" and ");
    assert_eq!(front_end(&pipeline_with(&conditions)), vec![Code::TooDeep]);
}

#[test]
fn long_else_if_chains_are_refused() {
    let chain = format!("{}false", "if ok then true else ".repeat(50_000));
    assert_eq!(front_end(&pipeline_with(&chain)), vec![Code::TooDeep]);
}

#[test]
fn moderate_depth_is_fine() {
    let nested = format!("{}ok{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(front_end(&pipeline_with(&nested)), vec![]);
    let sum = vec!["id"; 150].join(" + ");
    assert_eq!(front_end(&pipeline_with(&format!("{sum} > 0"))), vec![]);
}

#[test]
fn long_pipelines_and_many_items_are_fine() {
    let pipeline = format!("{PRELUDE}r{} | sink discard\n", "\n  | filter ok".repeat(20_000));
    assert_eq!(front_end(&pipeline), vec![]);
    let items: String = (0..2_000).map(|i| format!("let s{i} = r | filter id > {i}\ns{i} | sink discard\n")).collect();
    assert_eq!(front_end(&format!("{PRELUDE}{items}")), vec![]);
}

#[test]
fn huge_literals_are_fine() {
    let long_string = format!("{PRELUDE}r | map {{ id, s = \"{}\" }} | sink discard\n", "x".repeat(1 << 20));
    assert_eq!(front_end(&long_string), vec![]);
    let long_number = pipeline_with(&format!("id > {}", "9".repeat(10_000)));
    assert_eq!(front_end(&long_number), vec![Code::NumberOutOfRange]);
}

/// The characters that mean something in a regular expression or a time
/// format, and a few that do not.
const PATTERN_PIECES: &[&str] = &[
    "(", ")", "[", "]", "{", "}", "^", "$", ".", "*", "+", "?", "|", "\\\\", "\\\\w", "\\\\b", "\\\\p{L}", "\\\\z",
    "(?i)", "(?m)", "(?-u:", "-", ",", "1", "2", "a", "é", "'", "''", "#", "yyyy", "MM", "dd", "HH", "mm", "ss", "SSS",
    "y", "h", " ", "\\\"", "\\n",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300),
        ..ProptestConfig::default()
    })]

    /// Random patterns and formats are read or refused with a place inside
    /// the text, never a panic; the export writes every regex it reads.
    #[test]
    fn random_patterns_never_panic(pieces in proptest::collection::vec(0..PATTERN_PIECES.len(), 0..30), group in -2..4i64) {
        let pattern: String = pieces.into_iter().map(|piece| PATTERN_PIECES[piece]).collect();
        let text = format!(
            "schema R {{ s: string, ts: timestamp }}\nsource r: R = file(\"r.jsonl\", format = jsonl)\n\
             r | map {{ a = matches(s, \"{pattern}\"), b = regexp_extract(s, \"{pattern}\", {group}), \
             c = format_time(ts, \"{pattern}\") }} | sink print\n"
        );
        let codes = front_end(&text);
        let expected = [Code::BadPattern, Code::BadArgument, Code::InvalidEscape];
        prop_assert!(codes.iter().all(|code| expected.contains(code)), "{codes:?} for {text}");
        if let Some(program) = check_source(&text).program {
            let exported = flowc::export::flink_sql(&program, "fuzz", &text, flowc::export::Options { drop_simulation: true });
            prop_assert!(exported.is_ok(), "{text} does not export: {exported:?}");
        }
    }
}

#[test]
fn deep_patterns_are_refused() {
    let deep = format!("{}a{}", "(".repeat(5_000), ")".repeat(5_000));
    let text = format!("{PRELUDE}r | filter matches(str(id), \"{deep}\")\n  | sink discard\n");
    assert_eq!(front_end(&text), vec![Code::BadPattern]);
}
