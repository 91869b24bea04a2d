//! A linear scan before pest runs: it cuts the file into top-level chunks,
//! so that a syntax error in one item does not hide the errors of the next,
//! and it rejects what would make the recursive-descent parser misbehave:
//! brackets nested too deep, and strings left open.

use crate::diag::{Code, Diagnostic, Span};

/// How deep brackets may nest. Real programs stay under ten; the bound is
/// what keeps pest's recursion, and every later recursive pass, off the
/// edge of the stack.
pub const MAX_NESTING: usize = 64;

/// A top-level piece of the file that parses on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub span: Span,
    /// Set when the scan already found this chunk unparseable.
    pub rejected: bool,
}

/// Cuts `source` into chunks and reports what the scan can see.
pub fn prescan(source: &str) -> (Vec<Chunk>, Vec<Diagnostic>) {
    let mut chunks = Vec::new();
    let mut diagnostics = Vec::new();
    let mut chunk_start = 0;
    let mut rejected = false;
    let mut open_brackets: Vec<usize> = Vec::new();

    let bytes = source.as_bytes();
    let mut at = 0;
    let mut line_start = true;
    while at < bytes.len() {
        let byte = bytes[at];
        if line_start && starts_item(source, at, open_brackets.is_empty()) && at > chunk_start {
            chunks.push(Chunk { span: Span::new(chunk_start, at), rejected });
            chunk_start = at;
            rejected = false;
            open_brackets.clear();
        }
        line_start = false;
        match byte {
            b'\n' => line_start = true,
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                at = source[at..].find('\n').map_or(bytes.len(), |newline| at + newline);
                continue;
            }
            b'"' => {
                let string_start = at;
                at += 1;
                loop {
                    match bytes.get(at) {
                        Some(b'"') => break,
                        Some(b'\\') if bytes.get(at + 1).is_some_and(|b| *b != b'\n') => at += 2,
                        Some(b'\n') | None => {
                            diagnostics.push(
                                Diagnostic::error(Code::UnterminatedString, "this string has no closing `\"`")
                                    .label(Span::new(string_start, at), "the string starts here and runs to the end of the line")
                                    .help("close the string with `\"` on the same line; write a newline inside a string as `\\n`"),
                            );
                            rejected = true;
                            // The rest of the line is lost; so are brackets it left open,
                            // or the next item would be taken for part of this one.
                            open_brackets.clear();
                            break;
                        }
                        Some(_) => at += 1,
                    }
                }
                if bytes.get(at) == Some(&b'\n') {
                    continue;
                }
            }
            b'(' | b'{' | b'[' => {
                open_brackets.push(at);
                if open_brackets.len() == MAX_NESTING + 1 && !rejected {
                    diagnostics.push(
                        Diagnostic::error(Code::TooDeep, format!("brackets nest more than {MAX_NESTING} deep"))
                            .label(Span::new(at, at + 1), format!("bracket number {} opens here", MAX_NESTING + 1))
                            .help("split the expression with `let` streams or `map` steps that compute parts of it"),
                    );
                    rejected = true;
                }
            }
            b')' | b'}' | b']' => {
                open_brackets.pop();
            }
            _ => {}
        }
        at += 1;
    }
    if chunk_start < source.len() || chunks.is_empty() {
        chunks.push(Chunk { span: Span::new(chunk_start, source.len()), rejected });
    }
    (chunks, diagnostics)
}

/// Whether a line starting at `at` begins a new item: a word in column 0
/// outside brackets, or an item keyword in column 0 anywhere (so that a
/// missing `}` does not swallow the rest of the file).
fn starts_item(source: &str, at: usize, outside_brackets: bool) -> bool {
    let rest = &source[at..];
    let Some(first) = rest.chars().next() else { return false };
    if !(first.is_ascii_alphabetic() || first == '_') {
        return false;
    }
    if outside_brackets {
        return true;
    }
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    matches!(word.as_str(), "config" | "schema" | "source" | "table" | "let")
}

/// The name an item defines, read from its first words, so that later
/// stages can stay quiet about uses of an item that failed to parse.
pub fn defined_name(chunk_text: &str) -> Option<String> {
    let mut words =
        chunk_text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|word| !word.is_empty());
    match words.next()? {
        "source" | "table" | "let" | "schema" => words.next().map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_texts(source: &str) -> Vec<&str> {
        prescan(source).0.iter().map(|chunk| &source[chunk.span.start..chunk.span.end]).collect()
    }

    #[test]
    fn cuts_at_words_in_column_zero() {
        let source = "schema A { x: int }\nsource a: A = generate() { x = seq }\na\n  | sink print\n";
        assert_eq!(
            chunk_texts(source),
            ["schema A { x: int }\n", "source a: A = generate() { x = seq }\n", "a\n  | sink print\n"]
        );
    }

    #[test]
    fn does_not_cut_inside_brackets_unless_an_item_keyword_starts_the_line() {
        let source = "a | map {\nx\n}\nsource b: B = generate()\n";
        assert_eq!(chunk_texts(source), ["a | map {\nx\n}\n", "source b: B = generate()\n"]);
        let unclosed = "a | map {\nx\nsource b: B = generate()\n";
        assert_eq!(chunk_texts(unclosed), ["a | map {\nx\n", "source b: B = generate()\n"]);
    }

    #[test]
    fn ignores_brackets_in_strings_and_comments() {
        let (chunks, diagnostics) = prescan("a | sink file(\"(((\") // {{{\nb | sink print\n");
        assert_eq!(chunks.len(), 2);
        assert!(diagnostics.is_empty());
    }

    #[test]
    fn rejects_deep_nesting_and_open_strings() {
        let deep = format!("a | filter {}x{}", "(".repeat(100), ")".repeat(100));
        let (chunks, diagnostics) = prescan(&deep);
        assert!(chunks[0].rejected);
        assert_eq!(diagnostics[0].code, Code::TooDeep);

        let (chunks, diagnostics) = prescan("a | sink file(\"out.csv)\nb | sink print\n");
        assert_eq!(diagnostics[0].code, Code::UnterminatedString);
        assert!(chunks[0].rejected);
        assert!(!chunks[1].rejected);
    }

    #[test]
    fn reads_the_defined_name() {
        assert_eq!(defined_name("source readings: R = x"), Some("readings".into()));
        assert_eq!(defined_name("let hot = a"), Some("hot".into()));
        assert_eq!(defined_name("a | sink print"), None);
    }
}
