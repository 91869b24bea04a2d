//! The TextMate grammar (`grammar/flow.tmLanguage.json`, what VS Code and
//! other editors highlight with) stays in step with the language: every
//! keyword and rate unit of `grammar/flow.pest`, and every operator,
//! function, aggregate, type and connector the checker knows, must appear
//! as a word in one of its patterns. The scopes themselves are pinned by
//! the tokenizer test in `editors/vscode/test` (Node, VS Code's engine).

use flowc::check::functions::{AggregateFunction, Function};
use flowc::check::types::Type;
use flowc::check::{SINK_CONNECTORS, SOURCE_CONNECTORS};
use flowc::syntax::ast::{OPERATOR_KEYWORDS, RESERVED_WORDS};

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Every `match`, `begin` and `end` pattern of the TextMate grammar.
fn patterns(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("match" | "begin" | "end", serde_json::Value::String(pattern)) => out.push(pattern.clone()),
                    _ => patterns(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| patterns(item, out)),
        _ => {}
    }
}

/// Whether `word` stands alone (not inside a longer name) in `pattern`.
fn has_word(pattern: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    pattern.match_indices(word).any(|(at, _)| {
        let before = pattern[..at].chars().next_back();
        let after = pattern[at + word.len()..].chars().next();
        // `\bword` has a `b` before the word: a regex escape, not a letter.
        let escaped_b = pattern[..at].ends_with("\\b");
        // `\s` is a regex class, not the unit `s`.
        let escape = before == Some('\\');
        (before.is_none_or(|c| !is_word(c) && c != '\\') || escaped_b) && !escape && after.is_none_or(|c| !is_word(c))
    })
}

/// Words the pest grammar spells out: `kw_x = @{ "x" …`, the reserved
/// words, and the rate units.
fn pest_words(pest: &str) -> Vec<String> {
    let mut words = Vec::new();
    for line in pest.lines() {
        let line = line.trim();
        let quoted = || line.split('"').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>();
        if line.starts_with("kw_") || line.starts_with("reserved") || line.starts_with("rate_unit") {
            words.extend(quoted());
        } else if line.starts_with("| \"") {
            // The continuation line of `reserved`.
            words.extend(quoted());
        }
    }
    words.retain(|word| word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !word.is_empty());
    words.sort();
    words.dedup();
    words
}

#[test]
fn the_textmate_grammar_knows_every_word_of_the_language() {
    let grammar: serde_json::Value =
        serde_json::from_str(&read("grammar/flow.tmLanguage.json")).expect("the TextMate grammar is JSON");
    assert_eq!(grammar["scopeName"], "source.flow");
    let mut all = Vec::new();
    patterns(&grammar, &mut all);

    let pest = pest_words(&read("grammar/flow.pest"));
    assert!(pest.len() >= 25, "too few words read from flow.pest: {pest:?}");
    let mut words: Vec<String> = pest;
    let listed = OPERATOR_KEYWORDS.iter().chain(RESERVED_WORDS).chain(SOURCE_CONNECTORS).chain(SINK_CONNECTORS);
    words.extend(listed.map(|word| word.to_string()));
    words.extend(Function::ALL.iter().map(|function| function.name().to_string()));
    words.extend(AggregateFunction::ALL.iter().map(|function| function.name().to_string()));
    words.extend(Type::ALL.iter().map(|ty| ty.name().to_string()));
    words.extend(["tumbling", "sliding", "seq", "epoch", "on"].map(String::from));
    words.sort();
    words.dedup();

    let missing: Vec<&String> =
        words.iter().filter(|word| !all.iter().any(|pattern| has_word(pattern, word))).collect();
    assert!(missing.is_empty(), "grammar/flow.tmLanguage.json does not highlight {missing:?}");
}

#[test]
fn word_search_is_not_fooled_by_longer_names() {
    assert!(has_word(r"\b(map|filter)\b", "map"));
    assert!(!has_word(r"\b(key_by)\b", "key"));
    assert!(has_word(r"(\|)\s*(sink)\s+", "sink"));
    assert!(!has_word(r"(\|)\s*(sink)\s+", "s"));
    assert!(has_word(r"(/)(ms|min|s|m|h)\b", "s"));
}
