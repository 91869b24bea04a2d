//! Canonical spacing inside one line of code: an expression, a call, an
//! attribute. The layout decides where lines break; this decides the spaces
//! between the tokens of a line, from the tokens alone.
//!
//! Spaces never change how a file parses (the grammar's white space is
//! insignificant outside its atomic tokens, which the lexer keeps whole),
//! so these rules are about reading, not meaning: binary operators stand
//! apart, a unary minus and a call's `(` hug what they apply to.

use super::tokens::{Token, TokenKind};

/// Words that join expressions rather than end them.
const OPERATOR_WORDS: &[&str] = &["and", "or", "not", "if", "then", "else"];

/// What came before the next token, as far as spacing cares.
#[derive(Clone, Copy)]
pub struct Previous<'s> {
    kind: TokenKind,
    text: &'s str,
    unary_minus: bool,
}

impl Previous<'_> {
    fn ends_operand(&self) -> bool {
        match self.kind {
            TokenKind::Number | TokenKind::Str => true,
            TokenKind::Word => !OPERATOR_WORDS.contains(&self.text),
            TokenKind::Punct => self.text == ")" || self.text == "}",
            TokenKind::Comment | TokenKind::Unknown => false,
        }
    }
}

/// The text that goes between `previous` and `token`, and what `token`
/// becomes as the next one's `previous`.
pub fn space_before<'s>(previous: Option<Previous<'s>>, token: Token, source: &'s str) -> (&'static str, Previous<'s>) {
    let text = token.text(source);
    let unary_minus = text == "-" && token.kind == TokenKind::Punct && !previous.is_some_and(|p| p.ends_operand());
    let next = Previous { kind: token.kind, text, unary_minus };
    let Some(previous) = previous else { return ("", next) };
    let space = match (previous.text, text) {
        (_, "," | ")" | ":") => "",
        ("(" | "@", _) => "",
        ("{", "}") => "",
        _ if previous.unary_minus => "",
        (_, "(") if previous.kind == TokenKind::Word && !OPERATOR_WORDS.contains(&previous.text) => "",
        _ => " ",
    };
    (space, next)
}

/// Joins `tokens` with canonical spacing. A comment ends its line, so the
/// result has one more line per comment inside; the caller indents them.
pub fn join(tokens: &[Token], source: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut previous = None;
    for (i, token) in tokens.iter().enumerate() {
        let line = lines.last_mut().expect("never empty");
        if token.kind == TokenKind::Comment {
            if !line.is_empty() {
                line.push_str("  ");
            }
            line.push_str(token.text(source));
            if i + 1 < tokens.len() {
                lines.push(String::new());
            }
            previous = None;
            continue;
        }
        let (space, next) = space_before(previous, *token, source);
        line.push_str(space);
        line.push_str(token.text(source));
        previous = Some(next);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::tokens::tokenize;
    use super::*;

    fn joined(source: &str) -> String {
        join(&tokenize(source), source).join("\n")
    }

    #[test]
    fn operators_stand_apart_and_calls_hug() {
        assert_eq!(joined("a+b*-c"), "a + b * -c");
        assert_eq!(joined("f( a,b ,- 1 )"), "f(a, b, -1)");
        assert_eq!(joined("x-1 - -y"), "x - 1 - -y");
        assert_eq!(joined("(-x)-(y)"), "(-x) - (y)");
        assert_eq!(joined("not(a)and b"), "not (a) and b");
        assert_eq!(joined("if a then-1 else 2"), "if a then -1 else 2");
        assert_eq!(joined("@watermark( delay=5s )"), "@watermark(delay = 5s)");
        assert_eq!(joined("generate(rate=40k/s,count=100_000)"), "generate(rate = 40k/s, count = 100_000)");
        assert_eq!(joined("a ++\"x\""), "a ++ \"x\"");
    }

    #[test]
    fn a_comment_ends_its_line() {
        assert_eq!(join(&tokenize("a + // why\n b"), "a + // why\n b"), ["a +  // why", "b"]);
    }
}
