//! The wire variant of a leaf's datatype: converting numbers to it, and packing
//! scalars into arrays.
//!
//! A leaf of datatype `uint8` carries `Uint32` values on the wire, a `float` leaf
//! `Float` values. A client that holds a Rust `f64` or `i64` converts it here
//! before writing, so that the broker's type check accepts it.

use tomoe_vss::{DataType, Value};

/// The integer in an integer value (`Int32`, `Int64`, `Uint32`, `Uint64`).
pub fn integer_of(value: &Value) -> Option<i128> {
    Some(match value {
        Value::Int32(v) => (*v).into(),
        Value::Int64(v) => (*v).into(),
        Value::Uint32(v) => (*v).into(),
        Value::Uint64(v) => (*v).into(),
        _ => return None,
    })
}

/// The number in a floating-point value (`Float`, `Double`).
pub fn real_of(value: &Value) -> Option<f64> {
    match value {
        Value::Float(v) => Some(f64::from(*v)),
        Value::Double(v) => Some(*v),
        _ => None,
    }
}

/// Converts `value` to the wire variant a leaf of `datatype` carries: numbers
/// become the leaf's number type when they fit it (integral floating-point
/// values count as integers), other values must already have the right variant.
/// Arrays convert element by element. Gives the value back when it does not
/// convert.
///
/// # Example
///
/// ```
/// use tomoe_kuksa::for_datatype;
/// use tomoe_vss::{DataType, Value};
///
/// assert_eq!(for_datatype(Value::Double(42.0), DataType::Float), Ok(Value::Float(42.0)));
/// assert_eq!(for_datatype(Value::Int64(200), DataType::Uint8), Ok(Value::Uint32(200)));
/// assert!(for_datatype(Value::Int64(300), DataType::Uint8).is_err());
/// ```
pub fn for_datatype(value: Value, datatype: DataType) -> Result<Value, Value> {
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
            Some(scalars) => Ok(pack_array(element, scalars)),
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
    let real = real_of(value);
    match datatype {
        DataType::Float => real
            .map(|v| v as f32)
            .or_else(|| integer_of(value).map(|i| i as f32))
            .map(Value::Float),
        DataType::Double => real
            .or_else(|| integer_of(value).map(|i| i as f64))
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
    integer_of(value).or_else(|| {
        let real = real?;
        // Beyond 2^100 no integer leaf can hold the value anyway.
        (real.is_finite() && real.fract() == 0.0 && real.abs() < 2f64.powi(100))
            .then_some(real as i128)
    })
}

/// Packs `scalars` into the array value of the (element) datatype `element`,
/// for example the allowed values of a leaf into v2 metadata's `allowed_values`.
/// The scalars must already have `element`'s wire variant; others are left out.
///
/// # Example
///
/// ```
/// use tomoe_kuksa::pack_array;
/// use tomoe_vss::{DataType, Value};
///
/// let packed = pack_array(DataType::Uint8, vec![Value::Uint32(1), Value::Uint32(2)]);
/// assert_eq!(packed, Value::Uint32Array(vec![1, 2]));
/// ```
pub fn pack_array(element: DataType, scalars: Vec<Value>) -> Value {
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
    match element.element() {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let check = |value: Value, datatype: DataType, expected: Option<Value>| {
            assert_eq!(
                for_datatype(value.clone(), datatype).ok(),
                expected,
                "{value:?} as {datatype}"
            );
        };
        check(
            Value::DoubleArray(vec![1.0, 2.0]),
            DataType::Uint8Array,
            Some(Value::Uint32Array(vec![1, 2])),
        );
        check(
            Value::Int64Array(vec![1, 2]),
            DataType::FloatArray,
            Some(Value::FloatArray(vec![1.0, 2.0])),
        );
        check(
            Value::DoubleArray(vec![]),
            DataType::Int16Array,
            Some(Value::Int32Array(vec![])),
        );
        check(
            Value::Int32Array(vec![5]),
            DataType::TimestampArray,
            Some(Value::Int64Array(vec![5])),
        );
        check(Value::Int64Array(vec![1, 256]), DataType::Uint8Array, None);
        check(Value::Int32(1), DataType::Int32Array, None);
        check(Value::Int32Array(vec![1]), DataType::Int32, None);
    }

    #[test]
    fn arrays_pack_by_element_type() {
        let check = |element: DataType, scalars: Vec<Value>, expected: Value| {
            assert_eq!(pack_array(element, scalars), expected, "{element}");
        };
        check(
            DataType::String,
            vec![Value::String("a".into())],
            Value::StringArray(vec!["a".into()]),
        );
        check(
            DataType::Boolean,
            vec![Value::Bool(true)],
            Value::BoolArray(vec![true]),
        );
        check(
            DataType::Int8,
            vec![Value::Int32(-1), Value::Int32(2)],
            Value::Int32Array(vec![-1, 2]),
        );
        check(
            DataType::Timestamp,
            vec![Value::Int64(3)],
            Value::Int64Array(vec![3]),
        );
        check(
            DataType::Uint16,
            vec![Value::Uint32(4)],
            Value::Uint32Array(vec![4]),
        );
        check(
            DataType::Uint64,
            vec![Value::Uint64(5)],
            Value::Uint64Array(vec![5]),
        );
        check(
            DataType::Float,
            vec![Value::Float(0.5)],
            Value::FloatArray(vec![0.5]),
        );
        check(
            DataType::Double,
            vec![Value::Double(1.5)],
            Value::DoubleArray(vec![1.5]),
        );
        // An array datatype packs as its element; other variants are left out.
        check(
            DataType::FloatArray,
            vec![Value::Float(1.0), Value::Double(2.0)],
            Value::FloatArray(vec![1.0]),
        );
    }

    #[test]
    fn numbers_are_read_from_their_variants() {
        assert_eq!(integer_of(&Value::Uint64(u64::MAX)), Some(u64::MAX.into()));
        assert_eq!(integer_of(&Value::Int32(-3)), Some(-3));
        assert_eq!(integer_of(&Value::Float(1.0)), None);
        assert_eq!(real_of(&Value::Float(0.5)), Some(0.5));
        assert_eq!(real_of(&Value::Int32(1)), None);
    }
}
