//! Turns pest's errors into diagnostics in the user's words: "expected an
//! operator such as `map` or `filter`", never rule names.

use pest::error::{Error, ErrorVariant, InputLocation};

use crate::diag::{did_you_mean, join_or, Code, Diagnostic, Span};

use super::ast::OPERATOR_KEYWORDS;
use super::parser::Rule;

/// A diagnostic for a pest error in the `chunk` of `source` that pest parsed.
pub fn syntax_error(error: &Error<Rule>, source: &str, chunk: Span) -> Diagnostic {
    let text = &source[chunk.start..chunk.end];
    let offset = chunk.start;
    let attempts = error.parse_attempts();
    // The furthest position any rule reached is where the user's text went
    // wrong; pest's own location can be the start of the enclosing item.
    let error_at = match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((start, _)) => start,
    };
    let at = attempts.as_ref().map_or(error_at, |attempts| attempts.max_position.max(error_at));
    // pest's rules describe the position it stopped at; they only help when
    // that is also the furthest position reached.
    let positives = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } if error_at == at => positives.clone(),
        _ => Vec::new(),
    };
    // A word after `|` that no operator rule took: `| mapp { … }`.
    let word_start = start_of_word(text, at);
    if text[..word_start].trim_end().ends_with('|') {
        let word = found_token(text, word_start);
        if is_word(&word) {
            return unknown_operator(&word, Span::new(offset + word_start, offset + word_start + word.len()));
        }
    }
    // Past the end of the chunk, what the user sees next is the next item.
    let at_chunk_end = text[at..].trim().is_empty();
    let (found, span) = if at_chunk_end {
        let next = offset + text.len();
        let found = found_token(source, next);
        if found.is_empty() {
            let end = source.trim_end().len();
            (found, Span::new(end, end))
        } else {
            (found.clone(), Span::new(next, next + found.len()))
        }
    } else {
        let found = found_token(text, at);
        (found.clone(), Span::new(offset + at, offset + at + found.len()))
    };
    let mut expected: Vec<String> = Vec::new();
    let mut positives = positives;
    if previous_word(text, at) == Some("sink") && positives.contains(&Rule::ident) {
        expected.push("a sink such as `print`, `discard` or `file(\"out.csv\")`".to_string());
        positives.retain(|rule| *rule != Rule::ident);
    }
    let descriptions: Vec<&str> = positives.iter().filter_map(|rule| describe(*rule)).collect();
    let tokens = attempts.map(|attempts| attempts.expected_tokens()).unwrap_or_default();
    // Punctuation first: a missing `)` is the likelier mistake than a missing operator.
    for token in tokens.iter().map(ToString::to_string) {
        if is_structural(&token, &descriptions) {
            push_unique(&mut expected, format!("`{token}`"));
        }
    }
    // "A new item could start here" only helps when nothing more specific is expected.
    let starts_an_item = |d: &&str| *d == "the end of the file" || *d == "a stream name or `union(…)`";
    let specific = descriptions.iter().any(|d| !starts_an_item(d));
    for description in descriptions.iter().filter(|d| !specific || !starts_an_item(d)) {
        push_unique(&mut expected, description.to_string());
    }
    let message = if expected.is_empty() {
        format!("unexpected {}", describe_found(&found))
    } else {
        format!("expected {}, found {}", join_or(&expected), describe_found(&found))
    };
    let label = if found.is_empty() { "the file ends here" } else { "unexpected here" };
    let diagnostic = Diagnostic::error(Code::Syntax, message).label(span, label);
    diagnostic.help(syntax_help(&expected, &found, at_chunk_end))
}

/// How to fix it, from what was expected and what was found.
fn syntax_help(expected: &[String], found: &str, at_chunk_end: bool) -> String {
    let expects = |what: &str| expected.iter().any(|e| e == what);
    let closer = ["`}`", "`)`"].into_iter().find(|closer| expects(closer));
    if let (Some(closer), true) = (closer, at_chunk_end) {
        return format!("the item above this line is not finished: is a closing {closer} missing?");
    }
    if found.chars().next().is_some_and(|c| !c.is_ascii() || "$#?;&^~`!'[]\\".contains(c)) && found != "\"" {
        return format!("`{found}` is not part of the language; see docs/language.md for what may stand here");
    }
    if expects("`else`") {
        return "an `if` needs both branches: `if condition then a else b`".to_string();
    }
    if expects("`on`") {
        return "a window or a timed join names the timestamp it is on: `window tumbling(1s) on ts { n = count() }`, `join (payments | key_by order_id) interval(0s, 10m) on ts, paid_at`".to_string();
    }
    if expects("`by`") {
        return "a lookup names the key it finds rows by: `lookup cards by card_id`".to_string();
    }
    if expects("`key_by`") {
        return "a table names the field each row is found by: `table cards: Card = file(\"cards.csv\") key_by card`"
            .to_string();
    }
    if expected.iter().any(|e| e.starts_with("a sink such as")) {
        return "name where the records go: `sink print`, `sink discard` or `sink file(\"out.csv\")`".to_string();
    }
    if expects("an operator such as `map`, `filter` or `sink`") {
        return "after `|` comes an operator, and every pipeline ends with `| sink …`".to_string();
    }
    if expects("an expression") {
        return "write a value here: a literal, a field name, a call, or a calculation such as `x * 2`".to_string();
    }
    match expected {
        [single] if single.starts_with('`') => format!("insert {single} before {}", describe_found(found)),
        _ if expects("`)`") => "is a closing `)` missing, or a `,` between two arguments?".to_string(),
        _ => "see docs/language.md for the syntax of each item and operator".to_string(),
    }
}

fn unknown_operator(word: &str, span: Span) -> Diagnostic {
    let operators = || OPERATOR_KEYWORDS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    Diagnostic::error(Code::UnknownOperator, format!("unknown operator `{word}`")).label(span, "not an operator").help(
        did_you_mean(word, OPERATOR_KEYWORDS.iter().copied())
            .unwrap_or_else(|| format!("the operators are {}", operators())),
    )
}

/// Punctuation worth naming in "expected …", unless a description already
/// covers it (`(` starts "an expression").
fn is_structural(token: &str, descriptions: &[&str]) -> bool {
    match token {
        "{" | "}" | ")" | "," | "=" | ":" | "|" => true,
        "@" => !descriptions.iter().any(|d| d.starts_with("an attribute")),
        // Nearly anything can be followed by a call's `(`; naming it is noise.
        "(" => descriptions.is_empty(),
        _ => false,
    }
}

/// The word just before `at`, skipping white space.
fn previous_word(text: &str, at: usize) -> Option<&str> {
    let before = text.get(..at)?.trim_end();
    let word = &before[start_of_word(before, before.len())..];
    (!word.is_empty()).then_some(word)
}

/// Where the word that ends at `at` starts (`at` itself if none does).
fn start_of_word(text: &str, at: usize) -> usize {
    text[..at]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(index, c)| index + c.len_utf8())
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The token at `at`: a word, a number, a string opening, or one character.
fn found_token(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or("");
    let Some(first) = rest.chars().next() else { return String::new() };
    if first.is_ascii_alphanumeric() || first == '_' {
        return rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.').collect();
    }
    first.to_string()
}

fn describe_found(found: &str) -> String {
    match found {
        "" => "the end of the file".to_string(),
        "\n" => "the end of the line".to_string(),
        "\"" => "a string".to_string(),
        other => format!("`{other}`"),
    }
}

fn is_word(found: &str) -> bool {
    found.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// What a rule looks like to a user, or `None` for rules that only ever
/// appear alongside a better description.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "the end of the file",
        Rule::config => "`config`",
        Rule::schema => "`schema`",
        Rule::source => "`source`",
        Rule::let_stream => "`let`",
        Rule::pipeline | Rule::stream => "a stream name or `union(…)`",
        Rule::config_entry => "a setting such as `parallelism = 2`",
        Rule::field_decl => "a field such as `amount: float`",
        Rule::type_name => "a type",
        Rule::source_body => "a generator body `{ field = expression … }`",
        Rule::union => "`union(…)`",
        Rule::operator => "an operator such as `map`, `filter` or `sink`",
        Rule::map_item => "a field name or `name = expression`",
        Rule::assignment | Rule::aggregate_entry => "`name = expression`",
        Rule::attribute => "an attribute such as `@parallelism(2)`",
        Rule::call => "a connector such as `generate(…)` or `print`",
        Rule::arg => "an argument",
        Rule::expr | Rule::if_expr | Rule::binary | Rule::unary | Rule::prefix | Rule::neg => "an expression",
        Rule::rate | Rule::number | Rule::string | Rule::boolean | Rule::kw_true | Rule::kw_false => "a value",
        Rule::or_op
        | Rule::and_op
        | Rule::eq_op
        | Rule::ne_op
        | Rule::le_op
        | Rule::ge_op
        | Rule::lt_op
        | Rule::gt_op
        | Rule::concat_op
        | Rule::add_op
        | Rule::sub_op
        | Rule::mul_op
        | Rule::div_op
        | Rule::rem_op => "a binary operator such as `+` or `==`",
        Rule::ident | Rule::name_or_call => "a name",
        Rule::kw_on => "`on`",
        Rule::kw_by => "`by`",
        Rule::sort_key => "an expression and `asc` or `desc`",
        Rule::sort_order | Rule::kw_asc | Rule::kw_desc => "`asc` or `desc`",
        Rule::kw_key_by => "`key_by`",
        Rule::table => "`table`",
        Rule::join_where | Rule::kw_where => "`where`",
        Rule::join_time => "`interval(lower, upper)` or `window …`",
        Rule::kw_then => "`then`",
        Rule::kw_else => "`else`",
        Rule::kw_if => "`if`",
        Rule::kw_not => "an expression",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_words_after_multibyte_characters() {
        assert_eq!(start_of_word("a §mapp", 8), 4);
        assert_eq!(start_of_word("é", 2), 2);
        assert_eq!(previous_word("| sink é", 10), None);
        assert_eq!(previous_word("→sink ", 8), Some("sink"));
    }
}
