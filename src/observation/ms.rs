//! Milliseconds, as reports show them: the serde shape of every duration in a report (a
//! tenth of a millisecond), read back as written.

use std::time::Duration;
pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0)
}
/// Reads back what [`serialize`] wrote (to a tenth of a millisecond).
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ms = <f64 as serde::Deserialize>::deserialize(d)?;
    if !ms.is_finite() || ms < 0.0 {
        return Err(serde::de::Error::custom(format!(
            "{ms} is not a duration in milliseconds"
        )));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}
