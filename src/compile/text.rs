//! The string functions that take strings apart: `split_index`,
//! `regexp_extract`, `matches` and `occurrences`. The interpreter and the
//! JIT's helpers both call these, so each has one definition; the parts
//! they return borrow from their argument, so compiled code copies nothing.
//!
//! flowc has no NULL: where Flink's `SPLIT_INDEX` and `REGEXP_EXTRACT`
//! return NULL (no such part, no match, no such group), these return the
//! empty string, and the export writes `COALESCE(…, '')`.

use crate::check::patterns::Regex;

/// Part `index` (from 0) of `s` cut at every `separator`, as Flink's
/// `SPLIT_INDEX`: separators at the ends make empty parts, and a separator
/// of several characters is found left to right without overlaps. No such
/// part (a negative index, one past the last part) is `""`; so is every
/// part of `""`. An empty separator cuts nothing: `s` is part 0.
pub fn split_index<'a>(s: &'a str, separator: &str, index: i64) -> &'a str {
    let Ok(index) = usize::try_from(index) else { return "" };
    if separator.is_empty() {
        return if index == 0 { s } else { "" };
    }
    s.split(separator).nth(index).unwrap_or("")
}

/// The text group `group` of the first match of `regex` in `s` matched, as
/// Flink's `REGEXP_EXTRACT`: group 0 is the whole match. No match, no such
/// group, or a group that took no part in the match is `""`.
pub fn regexp_extract<'a>(s: &'a str, regex: &Regex, group: i64) -> &'a str {
    let Ok(group) = usize::try_from(group) else { return "" };
    if group > regex.groups() {
        return "";
    }
    if group == 0 {
        // No captures needed: the faster search.
        return regex.compiled().find(s).map_or("", |found| found.as_str());
    }
    regex.compiled().captures(s).and_then(|captures| captures.get(group)).map_or("", |found| found.as_str())
}

/// Whether `regex` matches somewhere in `s` (anchor it with `^…$` for the
/// whole of `s`), as Flink's `REGEXP`.
pub fn matches(s: &str, regex: &Regex) -> bool {
    regex.compiled().is_match(s)
}

/// How many times `part` occurs in `s`, counted left to right without
/// overlaps (`"aaa"` holds `"aa"` once). The empty string occurs 0 times.
pub fn occurrences(s: &str, part: &str) -> i64 {
    if part.is_empty() {
        return 0;
    }
    s.matches(part).count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_index_is_flinks_split_index_with_empty_strings_for_null() {
        let parts: Vec<&str> = (-1..7).map(|i| split_index("a/b//c/", "/", i)).collect();
        assert_eq!(parts, ["", "a", "b", "", "c", "", "", ""]);
        assert_eq!(split_index("", "/", 0), "");
        assert_eq!((split_index("/", "/", 0), split_index("/", "/", 1)), ("", ""));
        assert_eq!(split_index("a::b:::c", "::", 2), ":c");
        assert_eq!(split_index("https://ü.de/x", "/", 2), "ü.de");
        assert_eq!((split_index("abc", "", 0), split_index("abc", "", 1)), ("abc", ""));
        assert_eq!(split_index("a", "/", i64::MAX), "");
        assert_eq!(split_index("a", "/", i64::MIN), "");
    }

    #[test]
    fn regexp_extract_is_flinks_with_empty_strings_for_null() {
        let regex = Regex::parse("(&|^)channel_id=([^&]*)").unwrap();
        assert_eq!(regexp_extract("q=1&channel_id=77&u=2", &regex, 2), "77");
        assert_eq!(regexp_extract("channel_id=5", &regex, 2), "5");
        assert_eq!(regexp_extract("channel_id=5", &regex, 0), "channel_id=5");
        assert_eq!(regexp_extract("q=1", &regex, 2), "");
        assert_eq!(regexp_extract("channel_id=5", &regex, 3), "");
        assert_eq!(regexp_extract("channel_id=5", &regex, -1), "");
        let optional = Regex::parse("(a)?x").unwrap();
        assert_eq!(regexp_extract("x", &optional, 1), "", "a group that took no part");
        assert!(matches("q=1&channel_id=", &regex));
        assert!(!matches("q=1", &regex));
        assert!(matches("", &Regex::parse("").unwrap()));
    }

    #[test]
    fn occurrences_count_without_overlaps() {
        assert_eq!(occurrences("aaaaa", "aa"), 2);
        assert_eq!(occurrences("cocoa", "c"), 2);
        assert_eq!(occurrences("grüße", "ü"), 1);
        assert_eq!(occurrences("abc", ""), 0);
        assert_eq!(occurrences("", "a"), 0);
    }
}
