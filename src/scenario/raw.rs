//! The scenario as written: serde structs that reject unknown keys, every value wrapped in
//! `Spanned` so validation can point at it. Every key is optional here; validation decides
//! what is required and fills the defaults.

use serde::Deserialize;
use serde_spanned::Spanned;

/// A value and the byte span it came from.
pub(crate) type At<T> = Spanned<T>;

/// Integers are read wide so that validation, not the reader, says what range is allowed.
pub(crate) type Int = i128;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Option<At<String>>,
    pub description: Option<At<String>>,
    pub login: Option<At<RawLogin>>,
    pub anchor: Option<At<RawAnchor>>,
    pub observer: Option<At<Vec<At<RawObserver>>>>,
    pub vantage: Option<At<RawVantage>>,
    pub limits: Option<At<RawLimits>>,
}

/// `[login]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogin {
    pub hosts: Option<At<Vec<At<String>>>>,
    pub ports: Option<At<Vec<At<Int>>>>,
    pub openid_path: Option<At<String>>,
}

/// `[anchor]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnchor {
    pub expect: Option<At<Vec<At<String>>>>,
}

/// One `[[observer]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawObserver {
    pub name: Option<At<String>>,
    pub role: Option<At<String>>,
    pub url: Option<At<String>>,
    pub extract: Option<At<RawExtract>>,
    pub samples: Option<At<Int>>,
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

/// `[vantage]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVantage {
    pub name: Option<At<String>>,
    pub dns: Option<At<Vec<At<String>>>>,
    pub proxy: Option<At<String>>,
    pub ca_files: Option<At<Vec<At<String>>>>,
    pub expect_anchored: Option<At<bool>>,
}

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub timeout: Option<At<RawDuration>>,
    pub deadline: Option<At<RawDuration>>,
    pub samples: Option<At<Int>>,
    pub family: Option<At<RawFamily>>,
    pub concurrency: Option<At<Int>>,
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
