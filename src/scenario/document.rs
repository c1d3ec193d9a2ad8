//! A format-neutral document tree with byte spans, built from TOML or JSON text, so that one
//! deserializer and one set of messages serve both formats.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::position::LineIndex;
use super::values::shorten;

/// Deeper nesting than this is refused rather than recursed into: no scenario needs it.
const MAX_DEPTH: usize = 64;

/// A value and the bytes of the source text it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub span: Range<usize>,
    pub kind: Kind,
}

/// The value itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// JSON `null` (TOML has none).
    Null,
    Bool(bool),
    Int(i128),
    /// A float, or an integer too large for `i128`, as written.
    Number(String),
    Str(String),
    /// A TOML date/time, as written.
    Datetime(String),
    Array(Vec<Node>),
    /// Entries in source order.
    Table(Vec<Entry>),
}

/// One `key = value` of a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub value: Node,
}

/// Text that does not parse at all.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl Kind {
    /// How a value is named in "found …" messages.
    pub fn describe(&self) -> String {
        match self {
            Kind::Null => "null".to_owned(),
            Kind::Bool(b) => format!("the boolean `{b}`"),
            Kind::Int(i) => format!("the integer `{i}`"),
            Kind::Number(n) => format!("the number `{n}`"),
            Kind::Str(s) => format!("the string `{}`", shorten(s)),
            Kind::Datetime(d) => format!("the date-time `{d}`"),
            Kind::Array(_) => "an array".to_owned(),
            Kind::Table(_) => "a table".to_owned(),
        }
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses TOML text into a document tree.
pub(crate) fn parse_toml(text: &str) -> Result<Node, SyntaxError> {
    let root = DeTable::parse(text).map_err(|e| SyntaxError {
        offset: e.span().map_or(0, |s| s.start),
        message: format!("invalid TOML: {}", one_line(e.message())),
    })?;
    Ok(Node {
        span: root.span(),
        kind: Kind::Table(toml_table(root.get_ref(), 0)?),
    })
}

fn toml_table(table: &DeTable<'_>, depth: usize) -> Result<Vec<Entry>, SyntaxError> {
    let mut entries = Vec::with_capacity(table.len());
    for (key, value) in table.iter() {
        entries.push(Entry {
            key: key.get_ref().to_string(),
            key_span: key.span(),
            value: toml_value(value.get_ref(), value.span(), depth + 1)?,
        });
    }
    // The table is a map ordered by key; messages read better in file order.
    entries.sort_by_key(|e| e.key_span.start);
    Ok(entries)
}

fn toml_value(value: &DeValue<'_>, span: Range<usize>, depth: usize) -> Result<Node, SyntaxError> {
    if depth > MAX_DEPTH {
        return Err(SyntaxError {
            offset: span.start,
            message: "values are nested too deeply".into(),
        });
    }
    let kind = match value {
        DeValue::String(s) => Kind::Str(s.to_string()),
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Kind::Int(n),
            Err(_) => Kind::Number(i.to_string()),
        },
        DeValue::Float(f) => Kind::Number(f.as_str().to_owned()),
        DeValue::Boolean(b) => Kind::Bool(*b),
        DeValue::Datetime(d) => Kind::Datetime(d.to_string()),
        DeValue::Array(items) => Kind::Array(
            items
                .iter()
                .map(|item| toml_value(item.get_ref(), item.span(), depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(table) => Kind::Table(toml_table(table, depth)?),
    };
    Ok(Node { span, kind })
}

/// Parses JSON text into a document tree. serde_json checks the syntax (and gives the
/// messages); a small scanner then records where each value starts.
pub(crate) fn parse_json(text: &str, index: &LineIndex<'_>) -> Result<Node, SyntaxError> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        return Err(SyntaxError {
            offset: index.offset_of_byte_col(e.line(), e.column()),
            message: format!("invalid JSON: {}", one_line(message)),
        });
    }
    let mut scanner = JsonScanner {
        text,
        pos: 0,
        too_deep: false,
    };
    scanner.skip_whitespace();
    let root = scanner.value(0);
    scanner.skip_whitespace();
    match root {
        Some(node) if scanner.pos == text.len() => Ok(node),
        _ => Err(SyntaxError {
            offset: scanner.pos.min(text.len()),
            message: if scanner.too_deep {
                "invalid JSON: values are nested too deeply".into()
            } else {
                "invalid JSON: this value could not be read".into()
            },
        }),
    }
}

/// Walks JSON text already known to be valid; still returns `None` rather than panicking on
/// anything unexpected.
struct JsonScanner<'t> {
    text: &'t str,
    pos: usize,
    too_deep: bool,
}

impl JsonScanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek() == Some(byte)).then(|| self.pos += 1)
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            self.too_deep = true;
            return None;
        }
        self.skip_whitespace();
        let start = self.pos;
        let kind = match self.peek()? {
            b'{' => Kind::Table(self.object(depth)?),
            b'[' => Kind::Array(self.array(depth)?),
            b'"' => Kind::Str(self.string()?.0),
            b't' => self.literal("true", Kind::Bool(true))?,
            b'f' => self.literal("false", Kind::Bool(false))?,
            b'n' => self.literal("null", Kind::Null)?,
            _ => self.number()?,
        };
        Some(Node {
            span: start..self.pos,
            kind,
        })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Option<Kind> {
        self.text.get(self.pos..)?.starts_with(word).then(|| {
            self.pos += word.len();
            kind
        })
    }

    fn number(&mut self) -> Option<Kind> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let literal = self.text.get(start..self.pos).filter(|s| !s.is_empty())?;
        let integral = !literal.contains(['.', 'e', 'E']);
        Some(match literal.parse::<i128>() {
            Ok(n) if integral => Kind::Int(n),
            _ => Kind::Number(literal.to_owned()),
        })
    }

    /// A string literal, unescaped by serde_json itself, and its span.
    fn string(&mut self) -> Option<(String, Range<usize>)> {
        let start = self.pos;
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    break;
                }
                _ => self.pos += 1,
            }
        }
        let literal = self.text.get(start..self.pos)?;
        let value = serde_json::from_str::<String>(literal).ok()?;
        Some((value, start..self.pos))
    }

    fn array(&mut self, depth: usize) -> Option<Vec<Node>> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        if self.eat(b']').is_some() {
            return Some(items);
        }
        loop {
            items.push(self.value(depth + 1)?);
            if self.eat(b',').is_none() {
                self.eat(b']')?;
                return Some(items);
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Vec<Entry>> {
        self.eat(b'{')?;
        let mut entries = Vec::new();
        if self.eat(b'}').is_some() {
            return Some(entries);
        }
        loop {
            self.skip_whitespace();
            let (key, key_span) = self.string()?;
            self.eat(b':')?;
            let value = self.value(depth + 1)?;
            entries.push(Entry {
                key,
                key_span,
                value,
            });
            if self.eat(b',').is_none() {
                self.eat(b'}')?;
                return Some(entries);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Result<Node, SyntaxError> {
        parse_json(text, &LineIndex::new(text))
    }

    #[test]
    fn json_spans_point_at_values_and_keys() {
        let text = "{\"a\": [1, \"x\\ny\", -2.5e3], \"b\": {\"c\": null, \"d\": true}}";
        let node = json(text).expect("valid");
        let Kind::Table(entries) = &node.kind else {
            panic!("table")
        };
        assert_eq!(entries[0].key, "a");
        assert_eq!(entries[0].key_span, 1..4);
        let Kind::Array(items) = &entries[0].value.kind else {
            panic!("array")
        };
        assert_eq!(
            items[0],
            Node {
                span: 7..8,
                kind: Kind::Int(1)
            }
        );
        assert_eq!(items[1].kind, Kind::Str("x\ny".into()));
        assert_eq!(&text[items[1].span.clone()], "\"x\\ny\"");
        assert_eq!(items[2].kind, Kind::Number("-2.5e3".into()));
        let Kind::Table(inner) = &entries[1].value.kind else {
            panic!("table")
        };
        assert_eq!(inner[0].value.kind, Kind::Null);
        assert_eq!(&text[inner[1].value.span.clone()], "true");
    }

    #[test]
    fn json_syntax_errors_have_positions() {
        let text = "{\n  \"a\": tru\n}";
        let err = json(text).expect_err("invalid");
        assert!(
            err.message.starts_with("invalid JSON: expected ident"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("line"));
        let err = json("").expect_err("empty");
        assert_eq!(err.offset, 0);
    }

    #[test]
    fn json_duplicate_keys_are_kept_for_the_deserializer_to_reject() {
        let node = json("{\"a\": 1, \"a\": 2}").expect("valid");
        let Kind::Table(entries) = node.kind else {
            panic!("table")
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn toml_entries_in_file_order_with_integer_forms() {
        let node = parse_toml("z = 0x10\na = 1_000\nb = 1.5\n").expect("valid");
        let Kind::Table(entries) = node.kind else {
            panic!("table")
        };
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["z", "a", "b"]);
        assert_eq!(entries[0].value.kind, Kind::Int(16));
        assert_eq!(entries[1].value.kind, Kind::Int(1000));
        assert_eq!(entries[2].value.kind, Kind::Number("1.5".into()));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("a = {}{}", "[".repeat(500), "]".repeat(500));
        assert!(parse_toml(&deep).is_err());
        // serde_json skips deep values without recursing, so the scanner must refuse them.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            json(&deep).expect_err("too deep").message,
            "invalid JSON: values are nested too deeply"
        );
    }
}
