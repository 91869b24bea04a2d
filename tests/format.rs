//! `flowc fmt` keeps meaning and is a fixed point, over every example, every
//! golden input that parses, and random programs in random layouts:
//!
//! - the formatted text parses to the same syntax tree, spans aside;
//! - it checks to the same diagnostics and the same typed program, spans aside;
//! - it holds the same comments, in the same order;
//! - formatting it again changes nothing.
//!
//! The layouts themselves are pinned by `tests/golden/fmt/`.

use std::fs;
use std::path::{Path, PathBuf};

use flowc::check::check_source;
use flowc::format::{format, tokens};
use flowc::syntax::parse;
use proptest::prelude::*;

#[path = "common/dice.rs"]
mod dice;
use dice::Dice;

/// `Debug` text with every `Span { start: …, end: … }` replaced by `Span`.
fn without_spans(debug: String) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("Span { start: ") {
        out.push_str(&rest[..at]);
        out.push_str("Span");
        let close = rest[at..].find('}').expect("a span closes");
        rest = &rest[at + close + 1..];
    }
    out.push_str(rest);
    out
}

fn comments(text: &str) -> Vec<String> {
    tokens::tokenize(text)
        .into_iter()
        .filter(|token| token.kind == tokens::TokenKind::Comment)
        .map(|token| token.text(text).to_string())
        .collect()
}

/// Every property at once, for one text that parses; `Err` says which broke.
fn assert_formats_faithfully(text: &str) -> Result<(), String> {
    let formatted = format(text).map_err(|diagnostics| format!("refused: {diagnostics:?}"))?;
    let show = |what: &str| format!("{what}\n--- input\n{text}\n--- formatted\n{formatted}");

    let (before, after) = (parse(text), parse(&formatted));
    if !after.diagnostics.is_empty() {
        return Err(show(&format!("the formatted text does not parse: {:?}", after.diagnostics)));
    }
    if without_spans(format!("{:?}", before.file)) != without_spans(format!("{:?}", after.file)) {
        return Err(show("the syntax tree changed"));
    }

    let (before, after) = (check_source(text), check_source(&formatted));
    let codes = |checked: &flowc::check::Checked| checked.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>();
    if codes(&before) != codes(&after) {
        return Err(show(&format!("the diagnostics changed: {:?} → {:?}", codes(&before), codes(&after))));
    }
    if without_spans(format!("{:?}", before.program)) != without_spans(format!("{:?}", after.program)) {
        return Err(show("the typed program changed"));
    }

    if comments(text).iter().map(|c| c.trim_end()).ne(comments(&formatted).iter().map(String::as_str)) {
        return Err(show("the comments changed"));
    }

    let twice = format(&formatted).map_err(|_| show("the formatted text is refused"))?;
    if twice != formatted {
        let diff = similar_asserts::SimpleDiff::from_str(&formatted, &twice, "once", "twice");
        return Err(show(&format!("formatting twice changes the text:\n{diff}")));
    }
    Ok(())
}

fn flow_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            flow_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "flow") {
            found.push(path);
        }
    }
}

/// The examples and every golden input that parses.
fn corpus() -> &'static [(PathBuf, String)] {
    static CORPUS: std::sync::OnceLock<Vec<(PathBuf, String)>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    flow_files(&root.join("examples"), &mut paths);
    flow_files(&root.join("tests/golden"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .filter(|(_, text)| parse(text).diagnostics.is_empty())
        .collect()
}

#[test]
fn every_example_and_golden_input_formats_faithfully() {
    let corpus = corpus();
    assert!(corpus.len() > 100, "only {} files parse", corpus.len());
    let failures: Vec<String> = corpus
        .iter()
        .filter_map(|(path, text)| assert_formats_faithfully(text).err().map(|e| format!("{}: {e}", path.display())))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_examples_are_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    flow_files(&root.join("examples"), &mut paths);
    for path in paths {
        let text = fs::read_to_string(&path).unwrap();
        let formatted = format(&text).unwrap();
        similar_asserts::assert_eq!(text, formatted, "{} is not formatted; run `flowc fmt` on it", path.display());
    }
}

// ------------------------------------------------------------ relayouts

/// The same tokens, in a random layout: random white space and line breaks
/// between them, and comments of our own. A line never starts at column 0,
/// where `syntax::prescan` would cut an item off.
fn relayout(text: &str, dice: &mut Dice) -> String {
    let mut out = String::new();
    let mut comment = 0;
    let mut previous: Option<tokens::Token> = None;
    for token in tokens::tokenize(text) {
        let after_comment = previous.is_some_and(|p| p.kind == tokens::TokenKind::Comment);
        // Tokens may touch where one is punctuation: `a+b`, `f(x)`.
        let may_touch = [previous.map(|p| p.kind), Some(token.kind)].contains(&Some(tokens::TokenKind::Punct));
        let gap = match dice.below(8) {
            _ if after_comment => "\n ",
            0 if may_touch => "",
            0..=3 => " ",
            4 => "  ",
            5 => "\n  ",
            6 => "\n\n ",
            _ => "\n\t",
        };
        out.push_str(gap);
        if dice.chance(6) {
            comment += 1;
            out.push_str(&format!(" // c{comment}\n  "));
        }
        out.push_str(token.text(text));
        previous = Some(token);
    }
    out.push('\n');
    out
}

// -------------------------------------------------------- random programs

const FIELDS: [&str; 5] = ["id", "price", "name", "ts", "flag"];

fn expr(dice: &mut Dice, depth: u32) -> String {
    if depth == 0 || dice.chance(30) {
        return match dice.below(9) {
            0 => dice.below(1000).to_string(),
            1 => format!("{}.{}", dice.below(100), dice.below(100)),
            2 => format!("\"s{}\\t\"", dice.below(10)),
            3 => dice.pick(&["true", "false"]).to_string(),
            4 => dice.pick(&["5ms", "1_000", "2.5e3", "32KiB", "2k"]).to_string(),
            _ => dice.pick(&FIELDS).to_string(),
        };
    }
    let op = dice.pick(&["+", "-", "*", "/", "%", "++", "==", "!=", "<", ">=", "and", "or"]);
    match dice.below(7) {
        0 => format!("-{}", expr(dice, depth - 1)),
        1 => format!("not {}", expr(dice, depth - 1)),
        2 => format!("({})", expr(dice, depth - 1)),
        3 => format!("{}({})", dice.pick(&["abs", "str", "len", "upper", "hash"]), expr(dice, depth - 1)),
        // An `if` inside an operand needs its parentheses.
        4 => format!("(if {} then {} else {})", expr(dice, 0), expr(dice, depth - 1), expr(dice, depth - 1)),
        // Comparisons do not chain; the parentheses keep them apart.
        _ if ["==", "!=", "<", ">="].contains(&op) => {
            format!("({} {op} {})", expr(dice, depth - 1), expr(dice, depth - 1))
        }
        _ => format!("{} {op} {}", expr(dice, depth - 1), expr(dice, depth - 1)),
    }
}

fn body(dice: &mut Dice, names: &[&str], bare: bool) -> String {
    let count = dice.below(4) as usize;
    let entries: Vec<String> = names
        .iter()
        .take(count)
        .map(|name| if bare && dice.chance(40) { name.to_string() } else { format!("{name} = {}", expr(dice, 2)) })
        .collect();
    let separator = dice.pick(&[", ", "\n  ", " "]);
    format!("{{ {} }}", entries.join(separator))
}

fn attributes(dice: &mut Dice) -> String {
    let mut text = String::new();
    if dice.chance(20) {
        text.push_str(&format!(" @name(\"op{}\")", dice.below(9)));
    }
    if dice.chance(15) {
        text.push_str(&format!(" @parallelism({})", 1 + dice.below(3)));
    }
    if dice.chance(10) {
        text.push_str(dice.pick(&[" @new_chain", " @no_chain"]));
    }
    text
}

fn stream(dice: &mut Dice, sources: &[&str], depth: u32) -> String {
    let mut text = if depth > 0 && dice.chance(15) {
        let inputs: Vec<String> = (0..1 + dice.below(3)).map(|_| stream(dice, sources, depth - 1)).collect();
        format!("union({})", inputs.join(", "))
    } else {
        dice.pick(sources).to_string()
    };
    for _ in 0..dice.below(5) {
        let operator = match dice.below(11) {
            0 | 1 => format!("filter {}", expr(dice, 3)),
            2 | 3 => format!("map {}", body(dice, &FIELDS, true)),
            4 => format!("key_by {}", expr(dice, 1)),
            5 => format!(
                "window {}({}) on ts {}",
                dice.pick(&["tumbling", "sliding"]),
                dice.pick(&["1s", "10ms, 5ms", "size = 1m"]),
                body(dice, &["n", "total", "best"], false)
            ),
            6 => format!("aggregate {}", body(dice, &["n", "m"], false)),
            7 => dice.pick(&["rebalance", "broadcast"]).to_string(),
            8 => format!("throttle {}", dice.pick(&["100/s", "2.5k/s", "10/ms"])),
            9 => format!("{} {}", dice.pick(&["work", "sleep"]), dice.pick(&["10us", "1ms"])),
            _ => format!("filter ({}) and {}", expr(dice, 2), expr(dice, 1)),
        };
        text.push_str(&format!(" | {operator}{}", attributes(dice)));
    }
    text
}

fn program(dice: &mut Dice) -> String {
    let mut items = Vec::new();
    if dice.chance(30) {
        items.push(format!("config {{ parallelism = {}, buffer_size = 32KiB }}", 1 + dice.below(4)));
    }
    items.push("schema R { id: int, price: float, name: string, ts: timestamp, flag: bool }".to_string());
    items.push(format!(
        "source a: R = generate(count = {}, rate = 1k/s) {}{}",
        1 + dice.below(100),
        body(dice, &FIELDS, false),
        if dice.chance(50) { " @watermark(delay = 1s)" } else { "" }
    ));
    items.push("source b: R = file(\"in.csv\")".to_string());
    let mut sources = vec!["a", "b"];
    for name in ["l1", "l2"] {
        if dice.chance(40) {
            items.push(format!("let {name} = {}", stream(dice, &sources, 2)));
            sources.push(name);
        }
    }
    for _ in 0..1 + dice.below(3) {
        items.push(format!(
            "{} | sink {}",
            stream(dice, &sources, 2),
            dice.pick(&["print", "discard", "file(\"o.jsonl\")"])
        ));
    }
    items.join("\n")
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(300), ..ProptestConfig::default() })]

    #[test]
    fn random_programs_in_random_layouts_format_faithfully(seed: u64) {
        let mut dice = Dice(seed);
        let text = relayout(&program(&mut dice), &mut dice);
        // Tokens laid out touching may fuse (`a` `b` into `ab`) and then fail to parse.
        prop_assume!(parse(&text).diagnostics.is_empty());
        if let Err(failure) = assert_formats_faithfully(&text) {
            return Err(TestCaseError::fail(failure));
        }
    }

    #[test]
    fn the_corpus_in_random_layouts_formats_faithfully(seed: u64) {
        let corpus = corpus();
        let mut dice = Dice(seed);
        let (path, text) = &corpus[dice.below(corpus.len() as u64) as usize];
        let text = relayout(text, &mut dice);
        prop_assume!(parse(&text).diagnostics.is_empty());
        if let Err(failure) = assert_formats_faithfully(&text) {
            return Err(TestCaseError::fail(format!("{}: {failure}", path.display())));
        }
    }
}
