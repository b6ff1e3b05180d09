//! The full-text index's words: the same tokens as [`Reader::search_candidates`] promises —
//! runs of letters and digits, case-insensitive — made in Rust on both sides, so PostgreSQL's
//! own parser (which keeps `/tmp/x` or `a-b` as one token) never decides what a word is.
//!
//! The index stores each chunk's distinct lowercased tokens as a `tsvector` of lexemes
//! (`array_to_tsvector`); a query is a `tsquery` of quoted lexemes joined by `&`. Tokens are
//! cut to [`MAX_LEXEME`] bytes on both sides (a lexeme is limited to 2 KiB), which can only add
//! candidates, and callers confirm every candidate in the chunk.
//!
//! [`Reader::search_candidates`]: crate::Reader::search_candidates

use std::collections::BTreeSet;

/// The longest lexeme kept, in bytes.
pub(super) const MAX_LEXEME: usize = 256;

/// The most bytes of lexemes one chunk's `tsvector` holds (PostgreSQL allows 1 MiB); words past
/// it are not indexed (a chunk of output that large in distinct words is not text).
const MAX_TSVECTOR: usize = 512 * 1024;

/// The distinct tokens of `text`, lowercased and cut, for the index.
pub(super) fn tokens(text: &str) -> Vec<String> {
    let set: BTreeSet<String> = split(text).collect();
    let mut total = 0;
    set.into_iter()
        .take_while(|t| {
            total += t.len() + 8;
            total <= MAX_TSVECTOR
        })
        .collect()
}

/// The `tsquery` text that every token of `words` must match, `None` without tokens.
pub(super) fn query(words: &[String]) -> Option<String> {
    let lexemes: BTreeSet<String> = words.iter().flat_map(|w| split(w)).collect();
    if lexemes.is_empty() {
        return None;
    }
    // Quoted lexemes: a quote is doubled and a backslash escaped, so nothing a user types is
    // tsquery syntax (tokens hold only letters and digits anyway).
    let quoted: Vec<String> = lexemes
        .iter()
        .map(|l| format!("'{}'", l.replace('\\', "\\\\").replace('\'', "''")))
        .collect();
    Some(quoted.join(" & "))
}

fn split(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| cut(t.to_lowercase()))
}

fn cut(mut token: String) -> String {
    if token.len() > MAX_LEXEME {
        let mut end = MAX_LEXEME;
        while !token.is_char_boundary(end) {
            end -= 1;
        }
        token.truncate(end);
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_runs_of_letters_and_digits_in_lower_case() {
        assert_eq!(
            tokens("psql> DROP TABLE users;\n/tmp/x a-b DROP"),
            ["a", "b", "drop", "psql", "table", "tmp", "users", "x"]
        );
        assert_eq!(
            query(&["select\" OR \"x".into()]).unwrap(),
            "'or' & 'select' & 'x'"
        );
        assert_eq!(query(&["--".into(), String::new()]), None);
        let long = "é".repeat(300);
        assert!(tokens(&long)[0].len() <= MAX_LEXEME);
        assert_eq!(
            query(std::slice::from_ref(&long)).unwrap(),
            format!("'{}'", tokens(&long)[0])
        );
    }
}
