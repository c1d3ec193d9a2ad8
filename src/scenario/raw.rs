//! The scenario as written: serde structs that reject unknown keys, every value wrapped in
//! `Spanned` so validation can point at it. Every key is optional here; validation decides
//! what is required and fills the defaults.

use serde::Deserialize;
use serde_spanned::Spanned;

/// A value and the byte span it came from.
pub(crate) type At<T> = Spanned<T>;

/// A key's value as written, set aside when it has the wrong type: the deserializer has already
/// reported why, and reading goes on, so that one pass finds every problem in the file.
/// Only the scenario deserializer (`de::NodeDe`) knows how to read it.
#[derive(Debug)]
pub(crate) enum Checked<T> {
    Valid(T),
    /// The value had the wrong type (already reported).
    Invalid,
}

impl<T> Checked<T> {
    /// The value, if it could be read.
    pub fn valid(&self) -> Option<&T> {
        match self {
            Checked::Valid(v) => Some(v),
            Checked::Invalid => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CheckedVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for CheckedVisitor<T> {
            type Value = Checked<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a scenario value")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Checked<T>, A::Error> {
                // The deserializer reported the error with its position: keep reading.
                match seq.next_element::<T>() {
                    Ok(Some(v)) => Ok(Checked::Valid(v)),
                    Ok(None) | Err(_) => Ok(Checked::Invalid),
                }
            }
        }

        d.deserialize_newtype_struct(super::de::CHECKED, CheckedVisitor(std::marker::PhantomData))
    }
}

/// An optional key: absent, of the wrong type (reported), or a value with its span.
pub(crate) type Field<T> = Option<Checked<At<T>>>;

/// A list whose every element is read on its own, so each bad element is reported.
pub(crate) type List<T> = Vec<Checked<At<T>>>;

/// Integers are read wide so that validation, not the reader, says what range is allowed.
pub(crate) type Int = i128;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Field<String>,
    pub description: Field<String>,
    pub login: Field<RawLogin>,
    pub anchor: Field<RawAnchor>,
    pub observer: Field<List<RawObserver>>,
    pub vantage: Field<RawVantages>,
    pub limits: Field<RawLimits>,
    pub entra: Field<RawEntra>,
}

/// `[entra]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntra {
    pub wait: Field<RawDuration>,
    pub graph_url: Field<String>,
    pub authority_host: Field<String>,
    pub mode: Field<String>,
    pub what_if: Field<bool>,
    pub what_if_control_ip: Field<String>,
    pub what_if_service_principal_id: Field<String>,
    pub what_if_resource_app_id: Field<String>,
}

/// `[login]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogin {
    pub hosts: Field<List<String>>,
    pub ports: Field<List<Int>>,
    pub openid_path: Field<String>,
}

/// `[anchor]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnchor {
    pub expect: Field<List<String>>,
}

/// One `[[observer]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawObserver {
    pub name: Field<String>,
    pub role: Field<String>,
    pub url: Field<String>,
    pub extract: Field<RawExtract>,
    pub samples: Field<Int>,
    pub http3: Field<bool>,
}

/// `extract = "text"` or `extract = { json = "/ip" }` (or `header`, `regex`).
#[derive(Debug, Deserialize)]
#[serde(rename = "extractor", rename_all = "lowercase")]
pub(crate) enum RawExtract {
    Text,
    Json(At<String>),
    Header(At<String>),
    Regex(At<String>),
}

/// `[vantage]` (one table) or `[[vantage]]` (several): the form is kept, so that errors name
/// `vantage.dns[0]` or `vantage[1].dns[0]` as the file writes it.
#[derive(Debug)]
pub(crate) enum RawVantages {
    One(Box<At<RawVantage>>),
    Many(List<RawVantage>),
}

impl<'de> Deserialize<'de> for RawVantages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FormVisitor;

        impl<'de> serde::de::Visitor<'de> for FormVisitor {
            type Value = RawVantages;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a [vantage] table or [[vantage]] entries")
            }

            /// The scenario deserializer hands over whether the value is an array, then the
            /// value itself.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawVantages, A::Error> {
                let many: bool = seq
                    .next_element()?
                    .ok_or_else(|| serde::de::Error::custom("the vantage's form is missing"))?;
                let missing = || serde::de::Error::custom("the vantage is missing");
                if many {
                    Ok(RawVantages::Many(seq.next_element()?.ok_or_else(missing)?))
                } else {
                    Ok(RawVantages::One(Box::new(
                        seq.next_element()?.ok_or_else(missing)?,
                    )))
                }
            }
        }

        d.deserialize_newtype_struct(super::de::ONE_OR_MANY, FormVisitor)
    }
}

/// One `[vantage]` table or `[[vantage]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVantage {
    pub name: Field<String>,
    pub dns: Field<List<String>>,
    pub proxy: Field<String>,
    pub pac: Field<String>,
    pub ca_files: Field<List<String>>,
    pub expect_anchored: Field<bool>,
    pub bind: Field<String>,
    pub interface: Field<String>,
}

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub timeout: Field<RawDuration>,
    pub deadline: Field<RawDuration>,
    pub samples: Field<Int>,
    pub family: Field<RawFamily>,
    pub concurrency: Field<Int>,
    pub require: Field<String>,
}

/// `family = "4"`; a bare `4` or `6` is what people type, so it is read as the same text.
#[derive(Debug)]
pub(crate) struct RawFamily(pub String);

impl AsRef<str> for RawFamily {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RawFamily {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FamilyVisitor;

        impl serde::de::Visitor<'_> for FamilyVisitor {
            type Value = RawFamily;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"4\", \"6\" or \"both\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawFamily, E> {
                Ok(RawFamily(v.to_owned()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawFamily, E> {
                Ok(RawFamily(v.to_string()))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawFamily, E> {
                Ok(RawFamily(v.to_string()))
            }

            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<RawFamily, E> {
                Ok(RawFamily(v.to_string()))
            }
        }

        d.deserialize_any(FamilyVisitor)
    }
}

/// `timeout = "5s"`. A bare number is refused with a hint, since its unit would be a guess.
#[derive(Debug)]
pub(crate) struct RawDuration(pub String);

impl AsRef<str> for RawDuration {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl DurationVisitor {
            fn bare<E: serde::de::Error>(n: impl std::fmt::Display) -> E {
                E::custom(format_args!(
                    "`{n}` has no unit: write a duration as a string, e.g. \"{n}s\" or \"{n}ms\""
                ))
            }
        }

        impl serde::de::Visitor<'_> for DurationVisitor {
            type Value = RawDuration;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as \"5s\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(v.to_owned()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Err(Self::bare(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Err(Self::bare(v))
            }

            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<RawDuration, E> {
                Err(Self::bare(v))
            }
        }

        d.deserialize_any(DurationVisitor)
    }
}
