//! A serde `Deserializer` over the document tree: feeds the raw structs, knows the key path and
//! source position of every value (including `Spanned` ones), and reports every unknown key and
//! every value of the wrong type (read through `raw::Checked`), not just the first.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::document::{Entry, Kind, Node};
use super::position::LineIndex;
use super::values::shorten;

/// A problem at a byte offset, before it is turned into a `ScenarioError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diag {
    pub offset: usize,
    pub message: String,
}

/// What deserialization shares: the text's line index, and the problems that do not stop it.
pub(crate) struct Ctx<'a> {
    pub index: &'a LineIndex<'a>,
    pub found: RefCell<Vec<Diag>>,
}

impl<'a> Ctx<'a> {
    pub fn new(index: &'a LineIndex<'a>) -> Self {
        Ctx {
            index,
            found: RefCell::new(Vec::new()),
        }
    }

    fn report(&self, offset: usize, message: String) {
        self.found.borrow_mut().push(Diag { offset, message });
    }
}

/// An error that stops deserialization. `offset` is `None` until the deserializer that
/// produced the failing value adds its position and key path.
#[derive(Debug)]
pub(crate) struct DeError {
    pub offset: Option<usize>,
    pub message: String,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            offset: None,
            message: msg.to_string(),
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "expected {exp}, found {}",
            describe_unexpected(&unexp)
        ))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "expected {exp}, found {}",
            describe_unexpected(&unexp)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format_args!("missing required key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::custom(format_args!("duplicate key `{field}`"))
    }
}

fn describe_unexpected(unexp: &de::Unexpected<'_>) -> String {
    use de::Unexpected as U;
    match unexp {
        U::Bool(b) => format!("the boolean `{b}`"),
        U::Unsigned(n) => format!("the integer `{n}`"),
        U::Signed(n) => format!("the integer `{n}`"),
        U::Float(n) => format!("the number `{n}`"),
        U::Str(s) => format!("the string `{}`", shorten(s)),
        U::Seq => "an array".to_owned(),
        U::Map => "a table".to_owned(),
        U::Unit | U::Option => "null".to_owned(),
        other => other.to_string(),
    }
}

/// `login` + `hosts` → `login.hosts`; keys that are not bare are quoted.
pub(crate) fn join_key(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("\"{}\"", shorten(key))
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// Where a table is, for "valid keys … are".
fn table_label(path: &str) -> String {
    if path.is_empty() {
        "at the top level".to_owned()
    } else if path.ends_with(']') {
        format!("in {path}")
    } else {
        format!("in [{path}]")
    }
}

/// `a`, `b` and `c` (or `a`, `b` or `c`).
pub(crate) fn list_keys(keys: &[&str], conjunction: &str) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        None => "none".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {conjunction} {last}", rest.join(", ")),
    }
}

/// What to write instead of a bad enum value. The extractor is the only enum in scenarios;
/// its forms are spelled out because its variants take values of their own.
fn enum_hint(name: &str, variants: &[&str]) -> String {
    if name == "extractor" {
        "use \"text\", { json = \"/ip\" }, { header = \"X-Client-IP\" } or { regex = 'ip=(\\S+)' }"
            .to_owned()
    } else {
        format!("use one of {}", list_keys(variants, "or"))
    }
}

/// Deserializes one node of the tree.
#[derive(Clone)]
pub(crate) struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    ctx: &'a Ctx<'a>,
}

impl<'a> NodeDe<'a> {
    pub fn root(node: &'a Node, ctx: &'a Ctx<'a>) -> Self {
        NodeDe {
            node,
            path: String::new(),
            ctx,
        }
    }

    fn child(&self, node: &'a Node, path: String) -> Self {
        NodeDe {
            node,
            path,
            ctx: self.ctx,
        }
    }

    fn path_label(&self) -> &str {
        if self.path.is_empty() {
            "the scenario"
        } else {
            &self.path
        }
    }

    /// An error at this value, with its key path.
    fn error(&self, message: impl fmt::Display) -> DeError {
        DeError {
            offset: Some(self.node.span.start),
            message: format!("{}: {message}", self.path_label()),
        }
    }

    fn wrong_type(&self, expected: &str) -> DeError {
        self.error(format_args!(
            "expected {expected}, found {}",
            self.node.kind.describe()
        ))
    }

    /// Gives an error raised by a visitor (which knows no position) this value's position.
    fn locate<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        result.map_err(|e| match e.offset {
            Some(_) => e,
            None => self.error(e.message),
        })
    }
}

impl<'de> IntoDeserializer<'de, DeError> for NodeDe<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(*b),
            Kind::Int(n) => match i64::try_from(*n) {
                Ok(small) => visitor.visit_i64(small),
                Err(_) => visitor.visit_i128(*n),
            },
            Kind::Number(text) => match text.parse::<f64>() {
                Ok(f) => visitor.visit_f64(f),
                Err(_) => visitor.visit_str(text),
            },
            Kind::Str(s) | Kind::Datetime(s) => visitor.visit_str(s),
            Kind::Array(items) => visitor.visit_seq(ItemsAccess::new(&self, items)),
            Kind::Table(entries) => visitor.visit_map(EntriesAccess::new(&self, entries, None)),
        };
        self.locate(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            Kind::Bool(b) => self.locate(visitor.visit_bool(b)),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            Kind::Int(n) => match i64::try_from(n) {
                Ok(small) => self.locate(visitor.visit_i64(small)),
                Err(_) => Err(self.error(format_args!("`{n}` is too large"))),
            },
            _ => Err(self.wrong_type("an integer")),
        }
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            Kind::Int(n) => self.locate(visitor.visit_i128(n)),
            _ => Err(self.wrong_type("an integer")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            Kind::Str(s) => self.locate(visitor.visit_str(s)),
            _ => Err(self.wrong_type("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            // JSON `null` is the same as leaving the key out.
            Kind::Null => self.locate(visitor.visit_none()),
            _ => {
                let located = self.clone();
                located.locate(visitor.visit_some(self))
            }
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            Kind::Array(items) => self.locate(visitor.visit_seq(ItemsAccess::new(&self, items))),
            // `[observer]` where `[[observer]]` was meant.
            Kind::Table(_) => Err(self.error(format_args!(
                "expected an array, found a table (in TOML, write [[{0}]] for each entry)",
                self.path
            ))),
            _ => Err(self.wrong_type("an array")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            Kind::Table(entries) => {
                self.locate(visitor.visit_map(EntriesAccess::new(&self, entries, None)))
            }
            _ => Err(self.wrong_type("a table")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if serde_spanned::de::is_spanned(name) {
            let span = self.node.span.clone();
            let located = self.clone();
            return located.locate(
                visitor.visit_map(serde_spanned::de::SpannedDeserializer::new(self, span)),
            );
        }
        match &self.node.kind {
            Kind::Table(entries) => {
                self.locate(visitor.visit_map(EntriesAccess::new(&self, entries, Some(fields))))
            }
            _ => Err(self.wrong_type("a table")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let unknown = |variant: &str| {
            format!(
                "`{}` is not a valid {name}: {}",
                shorten(variant),
                enum_hint(name, variants)
            )
        };
        match &self.node.kind {
            Kind::Str(variant) if variants.contains(&variant.as_str()) => {
                self.locate(visitor.visit_enum(VariantDe {
                    variant,
                    value: None,
                    outer: self.clone(),
                }))
            }
            Kind::Str(variant) => Err(self.error(unknown(variant))),
            Kind::Table(entries) => match entries.as_slice() {
                [
                    Entry {
                        key,
                        key_span,
                        value,
                    },
                ] => {
                    if variants.contains(&key.as_str()) {
                        let value = self.child(value, join_key(&self.path, key));
                        self.locate(visitor.visit_enum(VariantDe {
                            variant: key,
                            value: Some(value),
                            outer: self.clone(),
                        }))
                    } else {
                        Err(DeError {
                            offset: Some(key_span.start),
                            ..self.error(unknown(key))
                        })
                    }
                }
                _ => Err(self.error(format_args!(
                    "expected one {name}, found a table with {} keys: {}",
                    entries.len(),
                    enum_hint(name, variants)
                ))),
            },
            _ => Err(self.wrong_type("a string or a table")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        i8 i16 i32 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct identifier
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == CHECKED {
            return visitor.visit_seq(ReportingAccess { value: Some(self) });
        }
        if name == ONE_OR_MANY {
            let many = match &self.node.kind {
                Kind::Array(_) => true,
                Kind::Table(_) => false,
                _ => return Err(self.wrong_type("a table, or an array of tables")),
            };
            let located = self.clone();
            return located.locate(visitor.visit_seq(FormAccess {
                many: Some(many),
                value: Some(self),
            }));
        }
        self.deserialize_any(visitor)
    }
}

/// The name by which a key written either as one table or as an array of tables
/// (`[vantage]` or `[[vantage]]`) asks which form it has.
pub(crate) const ONE_OR_MANY: &str = "$__sipa_check_one_or_many";

/// A value that may be one table or an array of tables, handed over as a two-element
/// sequence: whether it is an array, then the value.
struct FormAccess<'a> {
    many: Option<bool>,
    value: Option<NodeDe<'a>>,
}

impl<'de> de::SeqAccess<'de> for FormAccess<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        if let Some(many) = self.many.take() {
            return seed
                .deserialize(de::value::BoolDeserializer::<DeError>::new(many))
                .map(Some);
        }
        match self.value.take() {
            Some(value) => seed.deserialize(value).map(Some),
            None => Ok(None),
        }
    }
}

/// The name by which `Checked` asks this deserializer to report a bad value and go on.
pub(crate) const CHECKED: &str = "$__sipa_check_checked";

/// One value, handed to `Checked` as a one-element sequence: if it cannot be read, the error
/// is reported to the context here (with its position and key path), and `Checked` records the
/// value as invalid instead of stopping, so the rest of the file is still read.
struct ReportingAccess<'a> {
    value: Option<NodeDe<'a>>,
}

impl<'de> de::SeqAccess<'de> for ReportingAccess<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(value) = self.value.take() else {
            return Ok(None);
        };
        let ctx = value.ctx;
        let located = value.clone();
        match located.locate(seed.deserialize(value)) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                let offset = e.offset.unwrap_or(located.node.span.start);
                ctx.report(offset, e.message);
                Err(DeError {
                    offset: Some(offset),
                    message: "reported".into(),
                })
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(self.value.is_some()))
    }
}

/// The elements of an array, each with its index in the key path.
struct ItemsAccess<'a> {
    parent: NodeDe<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'a> ItemsAccess<'a> {
    fn new(parent: &NodeDe<'a>, items: &'a [Node]) -> Self {
        ItemsAccess {
            parent: parent.clone(),
            items: items.iter().enumerate(),
        }
    }
}

impl<'de> de::SeqAccess<'de> for ItemsAccess<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, item)) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{i}]", self.parent.path);
        seed.deserialize(self.parent.child(item, path)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The entries of a table. For a struct (`fields` known), unknown and repeated keys are
/// reported to the context and skipped, so that all of them are reported at once.
struct EntriesAccess<'a> {
    parent: NodeDe<'a>,
    entries: &'a [Entry],
    next: usize,
    fields: Option<&'static [&'static str]>,
    current: Option<&'a Entry>,
    /// Keys already given to the visitor, and where.
    seen: HashMap<&'a str, usize>,
}

impl<'a> EntriesAccess<'a> {
    fn new(
        parent: &NodeDe<'a>,
        entries: &'a [Entry],
        fields: Option<&'static [&'static str]>,
    ) -> Self {
        EntriesAccess {
            parent: parent.clone(),
            entries,
            next: 0,
            fields,
            current: None,
            seen: HashMap::new(),
        }
    }

    /// Whether this entry is to be skipped, after reporting why.
    fn reject(&mut self, entry: &'a Entry) -> bool {
        let ctx = self.parent.ctx;
        let path = join_key(&self.parent.path, &entry.key);
        if let Some(fields) = self.fields
            && !fields.contains(&entry.key.as_str())
        {
            ctx.report(
                entry.key_span.start,
                format!(
                    "unknown key `{path}`: valid keys {} are {}",
                    table_label(&self.parent.path),
                    list_keys(fields, "and")
                ),
            );
            return true;
        }
        // TOML rejects repeated keys itself; JSON leaves it to us.
        if let Some(&first) = self.seen.get(entry.key.as_str()) {
            let at = ctx.index.line_col(first);
            ctx.report(
                entry.key_span.start,
                format!("duplicate key `{path}` (first set at {at})"),
            );
            return true;
        }
        self.seen.insert(&entry.key, entry.key_span.start);
        false
    }
}

impl<'de> de::MapAccess<'de> for EntriesAccess<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        loop {
            let Some(entry) = self.entries.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            if self.reject(entry) {
                continue;
            }
            self.current = Some(entry);
            let key: de::value::StrDeserializer<'_, DeError> =
                entry.key.as_str().into_deserializer();
            return seed.deserialize(key).map(Some).map_err(|e| DeError {
                offset: Some(entry.key_span.start),
                message: format!("{}: {}", join_key(&self.parent.path, &entry.key), e.message),
            });
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(entry) = self.current.take() else {
            return Err(self.parent.error("a value was asked for before its key"));
        };
        seed.deserialize(
            self.parent
                .child(&entry.value, join_key(&self.parent.path, &entry.key)),
        )
    }
}

/// An enum written as `"variant"` (unit) or `{ variant = value }` (newtype).
struct VariantDe<'a> {
    variant: &'a str,
    value: Option<NodeDe<'a>>,
    outer: NodeDe<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for VariantDe<'a> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), DeError> {
        let name: de::value::StrDeserializer<'_, DeError> = self.variant.into_deserializer();
        let tag = seed.deserialize(name)?;
        Ok((tag, self))
    }
}

impl<'de> de::VariantAccess<'de> for VariantDe<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(_) => Err(self.outer.error(format_args!(
                "`{0}` takes no value: write \"{0}\" instead of a table",
                self.variant
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        match self.value {
            Some(value) => seed.deserialize(value),
            None => Err(self.outer.error(format_args!(
                "`{0}` needs a value: write {{ {0} = \"...\" }}",
                self.variant
            ))),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, DeError> {
        Err(self.outer.error("tuple variants are not used in scenarios"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, DeError> {
        Err(self
            .outer
            .error("struct variants are not used in scenarios"))
    }
}
