//! Typed reads ([`FromValue`]) and values described for error messages. Writes
//! convert numbers to a leaf's wire type with `tomoe_kuksa::for_datatype`.

use tomoe_kuksa::wire::integer_of as integer;
use tomoe_vss::Value;

/// A Rust type a signal value can be read as, with [`Client::get_as`](crate::Client::get_as).
///
/// Implemented for `f32`, `f64`, `i32`, `i64`, `u32`, `u64`, `bool`, `String` and
/// [`Value`] itself. Numbers convert when nothing is lost: a `float` leaf reads as
/// `f64`, an `int32` as `i64` or `f64`, a `uint8` (carried as `Uint32`) as `i32`,
/// and an `int64` as `u32` when the value fits. Floating-point values never read as
/// integers, and a `double` does not read as `f32`.
///
/// # Example
///
/// ```
/// use tomoe_sdk::{FromValue, Value};
///
/// assert_eq!(f64::from_value(Value::Float(42.5)), Ok(42.5));
/// assert_eq!(i32::from_value(Value::Uint32(7)), Ok(7));
/// assert_eq!(u32::from_value(Value::Int32(-1)), Err(Value::Int32(-1)));
/// assert_eq!(bool::from_value(Value::Bool(true)), Ok(true));
/// ```
pub trait FromValue: Sized {
    /// The type's name in error messages, for example `f64`.
    const TYPE_NAME: &'static str;

    /// Converts `value`, or gives it back when it does not convert.
    fn from_value(value: Value) -> Result<Self, Value>;
}

impl FromValue for Value {
    const TYPE_NAME: &'static str = "value";

    fn from_value(value: Value) -> Result<Self, Value> {
        Ok(value)
    }
}

impl FromValue for String {
    const TYPE_NAME: &'static str = "string";

    fn from_value(value: Value) -> Result<Self, Value> {
        match value {
            Value::String(text) => Ok(text),
            other => Err(other),
        }
    }
}

impl FromValue for bool {
    const TYPE_NAME: &'static str = "bool";

    fn from_value(value: Value) -> Result<Self, Value> {
        match value {
            Value::Bool(flag) => Ok(flag),
            other => Err(other),
        }
    }
}

/// The largest integer magnitude `f64` holds exactly (2^53).
const F64_EXACT: i128 = 1 << 53;
/// The largest integer magnitude `f32` holds exactly (2^24).
const F32_EXACT: i128 = 1 << 24;

impl FromValue for f64 {
    const TYPE_NAME: &'static str = "f64";

    fn from_value(value: Value) -> Result<Self, Value> {
        match value {
            Value::Double(v) => Ok(v),
            Value::Float(v) => Ok(v.into()),
            other => match integer(&other) {
                Some(i) if i.abs() <= F64_EXACT => Ok(i as f64),
                _ => Err(other),
            },
        }
    }
}

impl FromValue for f32 {
    const TYPE_NAME: &'static str = "f32";

    fn from_value(value: Value) -> Result<Self, Value> {
        match value {
            Value::Float(v) => Ok(v),
            other => match integer(&other) {
                Some(i) if i.abs() <= F32_EXACT => Ok(i as f32),
                _ => Err(other),
            },
        }
    }
}

/// Implements [`FromValue`] for integer types: any integer value that fits.
macro_rules! integer_from_value {
    ($($type:ty),*) => {
        $(
            impl FromValue for $type {
                const TYPE_NAME: &'static str = stringify!($type);

                fn from_value(value: Value) -> Result<Self, Value> {
                    match integer(&value).and_then(|i| <$type>::try_from(i).ok()) {
                        Some(converted) => Ok(converted),
                        None => Err(value),
                    }
                }
            }
        )*
    };
}

integer_from_value!(i32, i64, u32, u64);

/// A value described for error messages: its wire type and, shortened, the value.
pub(crate) fn describe(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = value.to_string();
    let text = if text.chars().count() > LIMIT {
        format!("{}…", text.chars().take(LIMIT).collect::<String>())
    } else {
        text
    };
    format!("{} {text}", value.type_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_widen_numbers_without_loss() {
        assert_eq!(f64::from_value(Value::Float(1.5)), Ok(1.5));
        assert_eq!(f64::from_value(Value::Int32(-3)), Ok(-3.0));
        assert_eq!(
            f64::from_value(Value::Uint64(1 << 53)),
            Ok(9007199254740992.0)
        );
        assert!(f64::from_value(Value::Uint64((1 << 53) + 1)).is_err());
        assert_eq!(f32::from_value(Value::Uint32(7)), Ok(7.0));
        assert!(f32::from_value(Value::Double(1.5)).is_err());
        assert_eq!(i64::from_value(Value::Int32(-3)), Ok(-3));
        assert_eq!(i32::from_value(Value::Uint32(200)), Ok(200));
        assert_eq!(u64::from_value(Value::Int64(5)), Ok(5));
        assert!(u32::from_value(Value::Int64(-1)).is_err());
        assert!(i32::from_value(Value::Int64(i64::from(i32::MAX) + 1)).is_err());
        assert!(i32::from_value(Value::Float(1.0)).is_err());
    }

    #[test]
    fn reads_of_other_kinds_need_the_exact_variant() {
        assert_eq!(bool::from_value(Value::Bool(true)), Ok(true));
        assert!(bool::from_value(Value::Int32(1)).is_err());
        assert_eq!(
            String::from_value(Value::String("PARKED".into())),
            Ok("PARKED".to_owned())
        );
        assert!(String::from_value(Value::Float(1.0)).is_err());
        assert!(f64::from_value(Value::DoubleArray(vec![1.0])).is_err());
        assert_eq!(
            Value::from_value(Value::BoolArray(vec![true])),
            Ok(Value::BoolArray(vec![true]))
        );
    }

    #[test]
    fn descriptions_are_short() {
        assert_eq!(describe(&Value::Float(1.5)), "float 1.5");
        let long = describe(&Value::String("x".repeat(100)));
        assert!(long.chars().count() < 80, "{long}");
    }
}
