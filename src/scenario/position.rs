//! Byte offsets into a scenario text → 1-based line and character column.

/// Line starts of one text, to turn byte offsets (what the parsers report) into what editors show.
pub(crate) struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset of the first character of each line.
    starts: Vec<usize>,
}

/// A 1-based line and character column, shown as `LINE:COL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

impl std::fmt::Display for LineCol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

const BOM: char = '\u{feff}';

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// Line and column of a byte offset. Total: an offset past the end maps to the end, an
    /// offset inside a character to that character, and a leading byte-order mark takes no column.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        // The first line starts at 0, so the partition point is at least 1.
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let mut start = self.starts.get(line - 1).copied().unwrap_or(0);
        if start == 0 && self.text.starts_with(BOM) && offset >= BOM.len_utf8() {
            start = BOM.len_utf8();
        }
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        LineCol {
            line: saturate(line),
            col: saturate(col),
        }
    }

    /// The byte offset of a 1-based line and a 1-based *byte* column (what serde_json reports;
    /// it reports column 0 for "just before this line"). Clamped to the text.
    pub fn offset_of_byte_col(&self, line: usize, byte_col: usize) -> usize {
        let line = line.max(1);
        let Some(&start) = self.starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        // Up to this line's newline, not into the next line.
        let end = self
            .starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        start
            .saturating_add(byte_col.saturating_sub(1))
            .min(end)
            .min(self.text.len())
    }
}

/// The 1-based line and character column of a byte offset into `text`, a leading byte-order
/// mark taking no column: the one position helper for every file the tool reads (scenarios,
/// `serve`'s configuration).
pub fn line_col(text: &str, offset: usize) -> LineCol {
    LineIndex::new(text).line_col(offset)
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lc(text: &str, offset: usize) -> (u32, u32) {
        let p = LineIndex::new(text).line_col(offset);
        (p.line, p.col)
    }

    #[test]
    fn first_line_and_later_lines() {
        let text = "ab\ncd\n\nef";
        assert_eq!(lc(text, 0), (1, 1));
        assert_eq!(lc(text, 1), (1, 2));
        assert_eq!(lc(text, 2), (1, 3));
        assert_eq!(lc(text, 3), (2, 1));
        assert_eq!(lc(text, 6), (3, 1));
        assert_eq!(lc(text, 7), (4, 1));
        assert_eq!(lc(text, 8), (4, 2));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "é = \"ü\"\nx";
        assert_eq!(lc(text, "é = ".len()), (1, 5));
        assert_eq!(lc(text, "é = \"ü".len()), (1, 7));
    }

    #[test]
    fn offsets_past_the_end_or_inside_a_character_are_clamped() {
        let text = "aé";
        assert_eq!(lc(text, 2), (1, 2));
        assert_eq!(lc(text, 99), (1, 3));
        assert_eq!(lc("", 5), (1, 1));
    }

    #[test]
    fn crlf_lines() {
        let text = "a\r\nb";
        assert_eq!(lc(text, 3), (2, 1));
    }

    #[test]
    fn byte_order_mark_takes_no_column() {
        let text = "\u{feff}name = 1\nx";
        assert_eq!(lc(text, 3), (1, 1));
        assert_eq!(lc(text, 10), (1, 8));
        assert_eq!(lc(text, 0), (1, 1));
    }

    #[test]
    fn serde_json_positions() {
        let index = LineIndex::new("{\n  \"a\": x\n}");
        assert_eq!(index.offset_of_byte_col(2, 8), 9);
        assert_eq!(index.offset_of_byte_col(3, 0), 11);
        assert_eq!(index.offset_of_byte_col(9, 9), 12);
        assert_eq!(index.offset_of_byte_col(2, 999), 10);
        assert_eq!(index.offset_of_byte_col(0, 0), 0);
    }
}
