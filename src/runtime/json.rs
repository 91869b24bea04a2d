//! The members of a jsonl line's object, each with its text as written and
//! its column. serde_json parses every key and value; this module walks
//! the object between them, so that a repeated key is an error (a
//! `serde_json::Map` would keep the last silently), an error points at
//! its member, and a number out of range is shown as written.

use super::read::LineError;

/// One `"key": value` of the object.
#[derive(Debug)]
pub struct Member<'a> {
    pub key: String,
    pub value: serde_json::Value,
    /// The value as written in the line.
    pub text: &'a str,
    /// The value's column (1-based, in characters).
    pub column: usize,
}

/// The members of the object that is the whole line, in order.
pub fn members(line: &str) -> Result<Vec<Member<'_>>, LineError> {
    let bytes = line.as_bytes();
    let column = |at: usize| column_of(line, at);
    let fail =
        |at: usize, message: &str| LineError { column: column(at), message: format!("not a JSON object: {message}") };
    let mut at = skip_space(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return Err(fail(at, "a line must be one object, `{ … }`"));
    }
    let mut members: Vec<Member<'_>> = Vec::new();
    at = skip_space(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            at = skip_space(bytes, at);
            match bytes.get(at) {
                Some(b'"') => {}
                None => return Err(fail(at, "the line ends inside the object")),
                Some(_) => return Err(fail(at, "expected a member name in double quotes")),
            }
            let key_at = at;
            let (key, end) = value_at::<String>(line, at)?;
            at = skip_space(bytes, end);
            match bytes.get(at) {
                Some(b':') => {}
                None => return Err(fail(at, "the line ends inside the object")),
                Some(_) => return Err(fail(at, "expected `:` after the member name")),
            }
            at = skip_space(bytes, at + 1);
            if at == bytes.len() {
                return Err(fail(at, "the line ends inside the object"));
            }
            let (value, end) = value_at::<serde_json::Value>(line, at).map_err(|mut error| {
                error.message = match error.message.strip_prefix("not a JSON object: ") {
                    // serde_json says only "number out of range"; show the number.
                    Some("number out of range") => {
                        error.column = column(at);
                        let number: String = line[at..]
                            .chars()
                            .take_while(|c| matches!(c, '0'..='9' | '-' | '+' | '.' | 'e' | 'E'))
                            .collect();
                        format!("member `{key}`: `{number}` is out of range for a JSON number (at most about ±1.8e308)")
                    }
                    Some(message) => format!("member `{key}`: not valid JSON: {message}"),
                    None => error.message,
                };
                error
            })?;
            if let Some(first) = members.iter().find(|member| member.key == key) {
                return Err(LineError {
                    column: column(key_at),
                    message: format!(
                        "the key `{key}` appears twice (values at columns {} and {}); keep one",
                        first.column,
                        column(at)
                    ),
                });
            }
            members.push(Member { key, value, text: &line[at..end], column: column(at) });
            at = skip_space(bytes, end);
            match bytes.get(at) {
                Some(b',') => at += 1,
                Some(b'}') => {
                    at += 1;
                    break;
                }
                None => return Err(fail(at, "the line ends inside the object")),
                Some(_) => return Err(fail(at, "expected `,` or `}` after a member")),
            }
        }
    }
    at = skip_space(bytes, at);
    if at < bytes.len() {
        return Err(fail(at, "text after the object; a line holds one object"));
    }
    Ok(members)
}

/// The JSON value that starts at byte `at`, and the byte after it.
fn value_at<T: serde::de::DeserializeOwned>(line: &str, at: usize) -> Result<(T, usize), LineError> {
    let mut stream = serde_json::Deserializer::from_str(&line[at..]).into_iter::<T>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, at + stream.byte_offset())),
        Some(Err(error)) => {
            // serde_json counts columns in bytes from 1; the line has no line breaks.
            let mut byte = (at + error.column().saturating_sub(1)).min(line.len());
            while !line.is_char_boundary(byte) {
                byte -= 1;
            }
            let message = error.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            Err(LineError { column: column_of(line, byte), message: format!("not a JSON object: {message}") })
        }
        None => Err(LineError { column: column_of(line, at), message: "not a JSON object: a value is missing".into() }),
    }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
        at += 1;
    }
    at
}

/// The 1-based character column of byte `at` (a character boundary).
fn column_of(line: &str, at: usize) -> usize {
    line[..at].chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_members_with_their_text_and_columns() {
        let members = members(r#" { "a" : 99999999999999999999, "b":[1, {"c": 2}] ,"é":"x"} "#).unwrap();
        let seen: Vec<(&str, &str, usize)> = members.iter().map(|m| (m.key.as_str(), m.text, m.column)).collect();
        assert_eq!(seen, [("a", "99999999999999999999", 10), ("b", "[1, {\"c\": 2}]", 36), ("é", "\"x\"", 55)]);
        assert!(super::members("{}").unwrap().is_empty());
        let error = super::members(r#"{"f": -1e400}"#).unwrap_err();
        assert_eq!(error.message, "member `f`: `-1e400` is out of range for a JSON number (at most about ±1.8e308)");
        assert_eq!(error.column, 7);
    }

    #[test]
    fn refuses_repeated_keys_and_broken_objects() {
        let error = members(r#"{"id": 1, "id": 2}"#).unwrap_err();
        assert_eq!(error.column, 11);
        assert!(error.message.contains("the key `id` appears twice (values at columns 8 and 17)"), "{}", error.message);
        for (line, column) in [
            ("[1]", 1),
            ("{\"a\": 1,", 9),
            ("{\"a\" 1}", 6),
            ("{\"a\": 1} x", 10),
            ("{\"a\": tru}", 10),
            ("{\"a\":", 6),
        ] {
            let error = members(line).err().unwrap_or_else(|| panic!("{line} was read"));
            assert_eq!(error.column, column, "{line}: {}", error.message);
        }
    }
}
