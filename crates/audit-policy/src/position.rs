//! Byte offsets to the line and column a person looks for in an editor.
//!
//! TOML parsers report spans as byte ranges; every error and warning of a policy names
//! `FILE:LINE:COL` instead, so this lives in one place (the daemon's config file reuses it).

/// The 1-based line and column of `byte_offset` in `text`.
///
/// Columns count characters (Unicode scalar values), not bytes, so they match what an editor
/// shows on a line with non-ASCII text. An offset past the end means the end of the text; an
/// offset inside a multi-byte character means that character.
pub fn line_col(text: &str, byte_offset: usize) -> (usize, usize) {
    let mut end = byte_offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn first_character_is_line_one_column_one() {
        assert_eq!(line_col("abc", 0), (1, 1));
    }

    #[test]
    fn counts_lines_and_columns_after_newlines() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 4));
        // The newline itself belongs to the line it ends.
        assert_eq!(line_col(text, 5), (1, 6));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "é = \"x\"";
        // 'é' is two bytes; '=' is at byte 3 and is the third character.
        assert_eq!(line_col(text, 3), (1, 3));
        // An offset inside 'é' points at 'é'.
        assert_eq!(line_col(text, 1), (1, 1));
    }

    #[test]
    fn offsets_past_the_end_point_at_the_end() {
        assert_eq!(line_col("ab\ncd", 99), (2, 3));
        assert_eq!(line_col("", 5), (1, 1));
    }
}
