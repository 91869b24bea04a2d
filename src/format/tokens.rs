//! A lossless lexer for tools that must see what the parser throws away:
//! comments, and where the lines break. `flowc fmt` lays code out from the
//! syntax tree but takes every token's text, and every comment, from here.
//!
//! It never fails: a byte the language does not know becomes an `Unknown`
//! token. Its token boundaries match `grammar/flow.pest`'s atomic rules
//! (numbers with their suffix, rates such as `100k/s`, strings with their
//! escapes), so joining tokens with spaces never changes how a file parses.

use crate::diag::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An identifier or a keyword.
    Word,
    /// A number with its unit or scale, or a rate (`100k/s`).
    Number,
    /// A string literal, quotes included.
    Str,
    /// Punctuation or an operator: `(`, `==`, `++`, `|`, …
    Punct,
    /// `// …` to the end of the line, trailing space trimmed.
    Comment,
    /// A character no rule of the grammar starts with.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

impl Token {
    pub fn text(self, source: &str) -> &str {
        &source[self.span.start..self.span.end]
    }
}

/// Every token of `source`, in order.
pub fn tokenize(source: &str) -> Vec<Token> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let byte = bytes[at];
        let kind = match byte {
            b' ' | b'\t' | b'\r' | b'\n' => {
                at += 1;
                continue;
            }
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                at = source[at..].find('\n').map_or(bytes.len(), |newline| at + newline);
                let end = start + source[start..at].trim_end().len();
                tokens.push(Token { kind: TokenKind::Comment, span: Span::new(start, end) });
                continue;
            }
            b'"' => {
                at = string_end(bytes, at);
                TokenKind::Str
            }
            b'0'..=b'9' => {
                at = number_end(bytes, at);
                TokenKind::Number
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                at = word_end(bytes, at);
                TokenKind::Word
            }
            _ => match punct_len(&bytes[at..]) {
                Some(len) => {
                    at += len;
                    TokenKind::Punct
                }
                None => {
                    // A byte-order mark is white space to the grammar; anything
                    // else is a character it does not know.
                    let c = source[at..].chars().next().expect("at is a char boundary");
                    at += c.len_utf8();
                    if c == '\u{FEFF}' {
                        continue;
                    }
                    TokenKind::Unknown
                }
            },
        };
        tokens.push(Token { kind, span: Span::new(start, at) });
    }
    tokens
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn word_end(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && is_ident_byte(bytes[at]) {
        at += 1;
    }
    at
}

/// The end of a string that starts at `at`: after the closing quote, or at
/// the end of the line when it has none (the parser rejects that file).
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    at += 1;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => return at + 1,
            b'\\' if bytes.get(at + 1).is_some_and(|b| *b != b'\n') => at += 2,
            b'\n' => return at,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// `number` and `rate` of the grammar: digits and `_`, a fraction, an
/// exponent, letters as a suffix, then `/unit` when a rate unit follows
/// with no letter after it.
fn number_end(bytes: &[u8], start: usize) -> usize {
    let digits = |mut at: usize| {
        while at < bytes.len() && (bytes[at].is_ascii_digit() || bytes[at] == b'_') {
            at += 1;
        }
        at
    };
    let mut at = digits(start + 1);
    if bytes.get(at) == Some(&b'.') && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
        at = digits(at + 2);
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        let mut exponent = at + 1;
        if matches!(bytes.get(exponent), Some(b'+' | b'-')) {
            exponent += 1;
        }
        if bytes.get(exponent).is_some_and(u8::is_ascii_digit) {
            at = exponent;
            while at < bytes.len() && bytes[at].is_ascii_digit() {
                at += 1;
            }
        }
    }
    while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
        at += 1;
    }
    if bytes.get(at) == Some(&b'/') {
        // The grammar's ordered choice: the first unit that matches is the
        // only one tried, and no identifier character may follow it.
        let rest = &bytes[at + 1..];
        if let Some(unit) = ["ms", "min", "s", "m", "h"].iter().find(|unit| rest.starts_with(unit.as_bytes())) {
            let end = at + 1 + unit.len();
            if !bytes.get(end).is_some_and(|b| is_ident_byte(*b)) {
                return end;
            }
        }
    }
    at
}

/// The length of the punctuation at the start of `rest`, longest first.
fn punct_len(rest: &[u8]) -> Option<usize> {
    const TWO: [&[u8]; 5] = [b"==", b"!=", b"<=", b">=", b"++"];
    if TWO.iter().any(|op| rest.starts_with(op)) {
        return Some(2);
    }
    matches!(
        rest[0],
        b'(' | b')' | b'{' | b'}' | b',' | b':' | b'=' | b'@' | b'|' | b'+' | b'-' | b'*' | b'/' | b'%' | b'<' | b'>'
    )
    .then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<(TokenKind, &str)> {
        tokenize(source).into_iter().map(|token| (token.kind, token.text(source))).collect()
    }

    #[test]
    fn numbers_keep_their_units_and_rates_only_when_adjacent() {
        use TokenKind::*;
        assert_eq!(texts("100k/s"), [(Number, "100k/s")]);
        assert_eq!(texts("2.5e-3ms"), [(Number, "2.5e-3ms")]);
        assert_eq!(texts("1_000/min"), [(Number, "1_000/min")]);
        assert_eq!(texts("100 / s"), [(Number, "100"), (Punct, "/"), (Word, "s")]);
        // `/mi` is no unit: the grammar tries `m`, which an identifier character follows.
        assert_eq!(texts("5/mi"), [(Number, "5"), (Punct, "/"), (Word, "mi")]);
        assert_eq!(texts("3.x"), [(Number, "3"), (Unknown, "."), (Word, "x")]);
    }

    #[test]
    fn comments_strings_and_operators() {
        use TokenKind::*;
        assert_eq!(
            texts("a++\"x\\\"y\" // note  \r\n<=b"),
            [(Word, "a"), (Punct, "++"), (Str, "\"x\\\"y\""), (Comment, "// note"), (Punct, "<="), (Word, "b")]
        );
        assert_eq!(texts("\u{FEFF}é"), [(Unknown, "é")]);
    }
}
