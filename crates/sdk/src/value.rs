//! Value conversions: typed reads ([`FromValue`]), numbers converted to a leaf's
//! wire type for writes, and the KUKSA v2 wire representation.

use kuksa_rust_sdk::v2_proto as v2;
use tomoe_vss::{DataType, Value};

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

/// The integer in an integer value.
fn integer(value: &Value) -> Option<i128> {
    Some(match value {
        Value::Int32(v) => (*v).into(),
        Value::Int64(v) => (*v).into(),
        Value::Uint32(v) => (*v).into(),
        Value::Uint64(v) => (*v).into(),
        _ => return None,
    })
}

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

/// Converts `value` to the wire variant a leaf of `datatype` carries: numbers
/// become the leaf's number type when they fit it (integral floating-point
/// values count as integers), other values must already have the right variant.
/// Gives the value back when it does not convert.
pub(crate) fn for_datatype(value: Value, datatype: DataType) -> Result<Value, Value> {
    if value.fits_datatype(datatype) {
        return Ok(value);
    }
    if datatype.is_array() {
        if !is_array(&value) {
            return Err(value);
        }
        let element = datatype.element();
        let converted: Option<Vec<Value>> = value
            .elements()
            .into_iter()
            .map(|scalar| scalar_for(&scalar, element))
            .collect();
        return match converted {
            Some(scalars) => Ok(pack(element, scalars)),
            None => Err(value),
        };
    }
    scalar_for(&value, datatype).ok_or(value)
}

fn is_array(value: &Value) -> bool {
    matches!(
        value,
        Value::StringArray(_)
            | Value::BoolArray(_)
            | Value::Int32Array(_)
            | Value::Int64Array(_)
            | Value::Uint32Array(_)
            | Value::Uint64Array(_)
            | Value::FloatArray(_)
            | Value::DoubleArray(_)
    )
}

/// A scalar converted to the wire variant of the scalar `datatype`.
fn scalar_for(value: &Value, datatype: DataType) -> Option<Value> {
    if value.fits_datatype(datatype) {
        return Some(value.clone());
    }
    let real = match value {
        Value::Float(v) => Some(f64::from(*v)),
        Value::Double(v) => Some(*v),
        _ => None,
    };
    match datatype {
        DataType::Float => real
            .map(|v| v as f32)
            .or_else(|| integer(value).map(|i| i as f32))
            .map(Value::Float),
        DataType::Double => real
            .or_else(|| integer(value).map(|i| i as f64))
            .map(Value::Double),
        DataType::Timestamp => {
            let number = whole(value, real)?;
            i64::try_from(number).ok().map(Value::Int64)
        }
        integer_type => {
            let (low, high) = integer_type.integer_range()?;
            let number = whole(value, real)?;
            if number < low || number > high {
                return None;
            }
            Some(match integer_type {
                DataType::Int8 | DataType::Int16 | DataType::Int32 => Value::Int32(number as i32),
                DataType::Int64 => Value::Int64(number as i64),
                DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => {
                    Value::Uint32(number as u32)
                }
                _ => Value::Uint64(number as u64),
            })
        }
    }
}

/// The integer in an integer value, or in a whole, finite floating-point value.
fn whole(value: &Value, real: Option<f64>) -> Option<i128> {
    integer(value).or_else(|| {
        let real = real?;
        // Beyond 2^100 no integer leaf can hold the value anyway.
        (real.is_finite() && real.fract() == 0.0 && real.abs() < 2f64.powi(100))
            .then_some(real as i128)
    })
}

/// Packs scalars (already of `element`'s wire variant) into the array value.
fn pack(element: DataType, scalars: Vec<Value>) -> Value {
    macro_rules! collect {
        ($variant:ident, $array:ident) => {
            Value::$array(
                scalars
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::$variant(x) => Some(x),
                        _ => None,
                    })
                    .collect(),
            )
        };
    }
    match element {
        DataType::String => collect!(String, StringArray),
        DataType::Boolean => collect!(Bool, BoolArray),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => collect!(Int32, Int32Array),
        DataType::Int64 | DataType::Timestamp => collect!(Int64, Int64Array),
        DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => collect!(Uint32, Uint32Array),
        DataType::Uint64 => collect!(Uint64, Uint64Array),
        DataType::Float => collect!(Float, FloatArray),
        _ => collect!(Double, DoubleArray),
    }
}

/// A value as a v2 wire value.
pub(crate) fn to_v2(value: Value) -> v2::Value {
    use v2::value::TypedValue as T;
    let typed = match value {
        Value::String(v) => T::String(v),
        Value::Bool(v) => T::Bool(v),
        Value::Int32(v) => T::Int32(v),
        Value::Int64(v) => T::Int64(v),
        Value::Uint32(v) => T::Uint32(v),
        Value::Uint64(v) => T::Uint64(v),
        Value::Float(v) => T::Float(v),
        Value::Double(v) => T::Double(v),
        Value::StringArray(values) => T::StringArray(v2::StringArray { values }),
        Value::BoolArray(values) => T::BoolArray(v2::BoolArray { values }),
        Value::Int32Array(values) => T::Int32Array(v2::Int32Array { values }),
        Value::Int64Array(values) => T::Int64Array(v2::Int64Array { values }),
        Value::Uint32Array(values) => T::Uint32Array(v2::Uint32Array { values }),
        Value::Uint64Array(values) => T::Uint64Array(v2::Uint64Array { values }),
        Value::FloatArray(values) => T::FloatArray(v2::FloatArray { values }),
        Value::DoubleArray(values) => T::DoubleArray(v2::DoubleArray { values }),
    };
    v2::Value {
        typed_value: Some(typed),
    }
}

/// A v2 wire value as a value; `None` when it is empty.
pub(crate) fn from_v2(value: v2::Value) -> Option<Value> {
    use v2::value::TypedValue as T;
    Some(match value.typed_value? {
        T::String(v) => Value::String(v),
        T::Bool(v) => Value::Bool(v),
        T::Int32(v) => Value::Int32(v),
        T::Int64(v) => Value::Int64(v),
        T::Uint32(v) => Value::Uint32(v),
        T::Uint64(v) => Value::Uint64(v),
        T::Float(v) => Value::Float(v),
        T::Double(v) => Value::Double(v),
        T::StringArray(a) => Value::StringArray(a.values),
        T::BoolArray(a) => Value::BoolArray(a.values),
        T::Int32Array(a) => Value::Int32Array(a.values),
        T::Int64Array(a) => Value::Int64Array(a.values),
        T::Uint32Array(a) => Value::Uint32Array(a.values),
        T::Uint64Array(a) => Value::Uint64Array(a.values),
        T::FloatArray(a) => Value::FloatArray(a.values),
        T::DoubleArray(a) => Value::DoubleArray(a.values),
    })
}

/// The datatype with the KUKSA numeric `code` (the same in v1 and v2).
pub(crate) fn datatype_from_code(code: i32) -> Option<DataType> {
    Some(match code {
        1 => DataType::String,
        2 => DataType::Boolean,
        3 => DataType::Int8,
        4 => DataType::Int16,
        5 => DataType::Int32,
        6 => DataType::Int64,
        7 => DataType::Uint8,
        8 => DataType::Uint16,
        9 => DataType::Uint32,
        10 => DataType::Uint64,
        11 => DataType::Float,
        12 => DataType::Double,
        13 => DataType::Timestamp,
        20 => DataType::StringArray,
        21 => DataType::BooleanArray,
        22 => DataType::Int8Array,
        23 => DataType::Int16Array,
        24 => DataType::Int32Array,
        25 => DataType::Int64Array,
        26 => DataType::Uint8Array,
        27 => DataType::Uint16Array,
        28 => DataType::Uint32Array,
        29 => DataType::Uint64Array,
        30 => DataType::FloatArray,
        31 => DataType::DoubleArray,
        32 => DataType::TimestampArray,
        _ => return None,
    })
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
    fn writes_become_the_leaf_wire_type() {
        let check = |value: Value, datatype: DataType, expected: Option<Value>| {
            assert_eq!(
                for_datatype(value.clone(), datatype).ok(),
                expected,
                "{value:?} as {datatype}"
            );
        };
        check(
            Value::Double(42.0),
            DataType::Float,
            Some(Value::Float(42.0)),
        );
        check(Value::Int32(3), DataType::Double, Some(Value::Double(3.0)));
        check(Value::Float(2.5), DataType::Float, Some(Value::Float(2.5)));
        check(Value::Int64(200), DataType::Uint8, Some(Value::Uint32(200)));
        check(Value::Double(7.0), DataType::Int16, Some(Value::Int32(7)));
        check(Value::Uint32(5), DataType::Int64, Some(Value::Int64(5)));
        check(Value::Int32(9), DataType::Timestamp, Some(Value::Int64(9)));
        check(Value::Int64(300), DataType::Uint8, None);
        check(Value::Int32(-1), DataType::Uint64, None);
        check(Value::Double(7.5), DataType::Int32, None);
        check(Value::Double(f64::NAN), DataType::Int32, None);
        check(Value::Double(1.0), DataType::Boolean, None);
        check(Value::Bool(true), DataType::Float, None);
        check(Value::String("1".into()), DataType::Int32, None);
        check(
            Value::String("ON".into()),
            DataType::String,
            Some(Value::String("ON".into())),
        );
    }

    #[test]
    fn array_writes_convert_each_element() {
        assert_eq!(
            for_datatype(Value::DoubleArray(vec![1.0, 2.0]), DataType::Uint8Array),
            Ok(Value::Uint32Array(vec![1, 2]))
        );
        assert_eq!(
            for_datatype(Value::Int64Array(vec![1, 2]), DataType::FloatArray),
            Ok(Value::FloatArray(vec![1.0, 2.0]))
        );
        assert!(for_datatype(Value::Int64Array(vec![1, 256]), DataType::Uint8Array).is_err());
        assert!(for_datatype(Value::Int32(1), DataType::Int32Array).is_err());
        assert!(for_datatype(Value::Int32Array(vec![1]), DataType::Int32).is_err());
    }

    #[test]
    fn wire_values_round_trip() {
        let values = [
            Value::String("a".into()),
            Value::Bool(true),
            Value::Int32(-1),
            Value::Int64(-2),
            Value::Uint32(3),
            Value::Uint64(4),
            Value::Float(1.5),
            Value::Double(2.5),
            Value::StringArray(vec!["x".into()]),
            Value::BoolArray(vec![false]),
            Value::Int32Array(vec![1]),
            Value::Int64Array(vec![2]),
            Value::Uint32Array(vec![1, 2]),
            Value::Uint64Array(vec![3]),
            Value::FloatArray(vec![0.25]),
            Value::DoubleArray(vec![0.5]),
        ];
        for value in values {
            assert_eq!(from_v2(to_v2(value.clone())), Some(value));
        }
        assert_eq!(from_v2(v2::Value { typed_value: None }), None);
    }

    #[test]
    fn datatype_codes_follow_kuksa() {
        assert_eq!(datatype_from_code(11), Some(DataType::Float));
        assert_eq!(datatype_from_code(7), Some(DataType::Uint8));
        assert_eq!(datatype_from_code(32), Some(DataType::TimestampArray));
        assert_eq!(datatype_from_code(0), None);
        let known = (0..40).filter_map(datatype_from_code).count();
        assert_eq!(known, DataType::ALL.len());
    }

    #[test]
    fn descriptions_are_short() {
        assert_eq!(describe(&Value::Float(1.5)), "float 1.5");
        let long = describe(&Value::String("x".repeat(100)));
        assert!(long.chars().count() < 80, "{long}");
    }
}
