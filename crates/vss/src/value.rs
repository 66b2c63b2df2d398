//! Typed signal values, as they travel on the wire.

use std::fmt;

use crate::DataType;

/// A signal value.
///
/// The variants follow the KUKSA wire representation: `int8` and `int16` leaves
/// carry [`Value::Int32`], `uint8` and `uint16` leaves carry [`Value::Uint32`], and
/// `timestamp` leaves carry [`Value::Int64`] (nanoseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // The variant names say what they hold.
pub enum Value {
    String(String),
    Bool(bool),
    Int32(i32),
    Int64(i64),
    Uint32(u32),
    Uint64(u64),
    Float(f32),
    Double(f64),
    StringArray(Vec<String>),
    BoolArray(Vec<bool>),
    Int32Array(Vec<i32>),
    Int64Array(Vec<i64>),
    Uint32Array(Vec<u32>),
    Uint64Array(Vec<u64>),
    FloatArray(Vec<f32>),
    DoubleArray(Vec<f64>),
}

/// A number taken out of a value for range checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Integer(i128),
    Real(f64),
}

impl Number {
    /// Compares two numbers; `None` for NaN.
    pub(crate) fn partial_cmp(self, other: Number) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Number::Integer(a), Number::Integer(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Number::Integer(i) => i as f64,
            Number::Real(r) => r,
        }
    }
}

impl Value {
    /// About how many bytes the value occupies (its payload, not the enum): what
    /// answer budgets count.
    pub fn approx_bytes(&self) -> usize {
        match self {
            Value::String(text) => text.len(),
            Value::StringArray(items) => items.iter().map(|item| item.len() + 8).sum(),
            Value::BoolArray(items) => items.len(),
            Value::Int32Array(items) => items.len() * 4,
            Value::Uint32Array(items) => items.len() * 4,
            Value::FloatArray(items) => items.len() * 4,
            Value::Int64Array(items) => items.len() * 8,
            Value::Uint64Array(items) => items.len() * 8,
            Value::DoubleArray(items) => items.len() * 8,
            _ => 8,
        }
    }
}

impl Value {
    /// A short name of the wire variant, as used in error messages (`float`, `int32[]`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Bool(_) => "bool",
            Value::Int32(_) => "int32",
            Value::Int64(_) => "int64",
            Value::Uint32(_) => "uint32",
            Value::Uint64(_) => "uint64",
            Value::Float(_) => "float",
            Value::Double(_) => "double",
            Value::StringArray(_) => "string[]",
            Value::BoolArray(_) => "bool[]",
            Value::Int32Array(_) => "int32[]",
            Value::Int64Array(_) => "int64[]",
            Value::Uint32Array(_) => "uint32[]",
            Value::Uint64Array(_) => "uint64[]",
            Value::FloatArray(_) => "float[]",
            Value::DoubleArray(_) => "double[]",
        }
    }

    /// Whether this wire variant is the one a leaf of `datatype` carries.
    pub fn fits_datatype(&self, datatype: DataType) -> bool {
        use DataType as D;
        matches!(
            (datatype, self),
            (D::String, Value::String(_))
                | (D::Boolean, Value::Bool(_))
                | (D::Int8 | D::Int16 | D::Int32, Value::Int32(_))
                | (D::Int64 | D::Timestamp, Value::Int64(_))
                | (D::Uint8 | D::Uint16 | D::Uint32, Value::Uint32(_))
                | (D::Uint64, Value::Uint64(_))
                | (D::Float, Value::Float(_))
                | (D::Double, Value::Double(_))
                | (D::StringArray, Value::StringArray(_))
                | (D::BooleanArray, Value::BoolArray(_))
                | (
                    D::Int8Array | D::Int16Array | D::Int32Array,
                    Value::Int32Array(_)
                )
                | (D::Int64Array | D::TimestampArray, Value::Int64Array(_))
                | (
                    D::Uint8Array | D::Uint16Array | D::Uint32Array,
                    Value::Uint32Array(_)
                )
                | (D::Uint64Array, Value::Uint64Array(_))
                | (D::FloatArray, Value::FloatArray(_))
                | (D::DoubleArray, Value::DoubleArray(_))
        )
    }

    /// The numbers in this value: one for a numeric scalar, each element of a numeric array.
    pub(crate) fn numbers(&self) -> Vec<Number> {
        match self {
            Value::Int32(v) => vec![Number::Integer((*v).into())],
            Value::Int64(v) => vec![Number::Integer((*v).into())],
            Value::Uint32(v) => vec![Number::Integer((*v).into())],
            Value::Uint64(v) => vec![Number::Integer((*v).into())],
            Value::Float(v) => vec![Number::Real((*v).into())],
            Value::Double(v) => vec![Number::Real(*v)],
            Value::Int32Array(v) => v.iter().map(|x| Number::Integer((*x).into())).collect(),
            Value::Int64Array(v) => v.iter().map(|x| Number::Integer((*x).into())).collect(),
            Value::Uint32Array(v) => v.iter().map(|x| Number::Integer((*x).into())).collect(),
            Value::Uint64Array(v) => v.iter().map(|x| Number::Integer((*x).into())).collect(),
            Value::FloatArray(v) => v.iter().map(|x| Number::Real((*x).into())).collect(),
            Value::DoubleArray(v) => v.iter().map(|x| Number::Real(*x)).collect(),
            _ => Vec::new(),
        }
    }

    /// The scalar elements of this value as single values (the value itself for a scalar).
    pub fn elements(&self) -> Vec<Value> {
        match self {
            Value::StringArray(v) => v.iter().cloned().map(Value::String).collect(),
            Value::BoolArray(v) => v.iter().copied().map(Value::Bool).collect(),
            Value::Int32Array(v) => v.iter().copied().map(Value::Int32).collect(),
            Value::Int64Array(v) => v.iter().copied().map(Value::Int64).collect(),
            Value::Uint32Array(v) => v.iter().copied().map(Value::Uint32).collect(),
            Value::Uint64Array(v) => v.iter().copied().map(Value::Uint64).collect(),
            Value::FloatArray(v) => v.iter().copied().map(Value::Float).collect(),
            Value::DoubleArray(v) => v.iter().copied().map(Value::Double).collect(),
            scalar => vec![scalar.clone()],
        }
    }

    /// Converts a JSON value (from a catalog file or a `--json` client) into a value of `datatype`.
    pub fn from_json(json: &serde_json::Value, datatype: DataType) -> Result<Value, String> {
        if datatype.is_array() {
            let items = json
                .as_array()
                .ok_or_else(|| format!("expected a JSON array for {datatype}, found {json}"))?;
            let scalars = items
                .iter()
                .map(|item| Value::from_json(item, datatype.element()))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Value::array_of(datatype, scalars));
        }
        let mismatch = || format!("{json} is not a valid {datatype}");
        Ok(match datatype {
            DataType::String => Value::String(json.as_str().ok_or_else(mismatch)?.to_owned()),
            DataType::Boolean => Value::Bool(json.as_bool().ok_or_else(mismatch)?),
            DataType::Float => Value::Float(json.as_f64().ok_or_else(mismatch)? as f32),
            DataType::Double => Value::Double(json.as_f64().ok_or_else(mismatch)?),
            integer => {
                let number: i128 = if let Some(i) = json.as_i64() {
                    i.into()
                } else if let Some(u) = json.as_u64() {
                    u.into()
                } else if let Some(f) = json.as_f64().filter(|f| f.fract() == 0.0) {
                    f as i128
                } else {
                    return Err(mismatch());
                };
                Value::integer(integer, number)?
            }
        })
    }

    /// Parses text typed by a person (the CLI) into a value of `datatype`.
    ///
    /// Arrays are written as JSON arrays (`[1, 2, 3]` or `["a", "b"]`); strings are
    /// taken as they are.
    pub fn parse(text: &str, datatype: DataType) -> Result<Value, String> {
        if datatype.is_array() {
            let json: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| format!("\"{text}\" is not a JSON array for {datatype}: {e}"))?;
            return Value::from_json(&json, datatype);
        }
        let invalid = |e: &dyn fmt::Display| format!("\"{text}\" is not a valid {datatype}: {e}");
        Ok(match datatype {
            DataType::String => Value::String(text.to_owned()),
            DataType::Boolean => Value::Bool(match text {
                "true" | "True" | "TRUE" | "1" => true,
                "false" | "False" | "FALSE" | "0" => false,
                _ => return Err(invalid(&"expected true or false")),
            }),
            DataType::Float => Value::Float(text.trim().parse().map_err(|e| invalid(&e))?),
            DataType::Double => Value::Double(text.trim().parse().map_err(|e| invalid(&e))?),
            integer => {
                let number: i128 = text.trim().parse().map_err(|e| invalid(&e))?;
                Value::integer(integer, number)?
            }
        })
    }

    /// Builds the wire value for an integer datatype, checking the datatype's range.
    fn integer(datatype: DataType, number: i128) -> Result<Value, String> {
        let (low, high) = datatype
            .integer_range()
            .ok_or_else(|| format!("{datatype} is not an integer type"))?;
        if number < low || number > high {
            return Err(format!("{number} is outside the range of {datatype}"));
        }
        Ok(match datatype.element() {
            DataType::Int8 | DataType::Int16 | DataType::Int32 => Value::Int32(number as i32),
            DataType::Int64 | DataType::Timestamp => Value::Int64(number as i64),
            DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => Value::Uint32(number as u32),
            _ => Value::Uint64(number as u64),
        })
    }

    /// Packs scalar values of `array_type`'s element type into an array value.
    fn array_of(array_type: DataType, scalars: Vec<Value>) -> Value {
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
        match array_type.element() {
            DataType::String => collect!(String, StringArray),
            DataType::Boolean => collect!(Bool, BoolArray),
            DataType::Int8 | DataType::Int16 | DataType::Int32 => collect!(Int32, Int32Array),
            DataType::Int64 | DataType::Timestamp => collect!(Int64, Int64Array),
            DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => {
                collect!(Uint32, Uint32Array)
            }
            DataType::Uint64 => collect!(Uint64, Uint64Array),
            DataType::Float => collect!(Float, FloatArray),
            _ => collect!(Double, DoubleArray),
        }
    }

    /// The value as JSON, for `--json` output and storage.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Value::String(v) => json!(v),
            Value::Bool(v) => json!(v),
            Value::Int32(v) => json!(v),
            Value::Int64(v) => json!(v),
            Value::Uint32(v) => json!(v),
            Value::Uint64(v) => json!(v),
            Value::Float(v) => json!(v),
            Value::Double(v) => json!(v),
            Value::StringArray(v) => json!(v),
            Value::BoolArray(v) => json!(v),
            Value::Int32Array(v) => json!(v),
            Value::Int64Array(v) => json!(v),
            Value::Uint32Array(v) => json!(v),
            Value::Uint64Array(v) => json!(v),
            Value::FloatArray(v) => json!(v),
            Value::DoubleArray(v) => json!(v),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Int32(v) => write!(f, "{v}"),
            Value::Int64(v) => write!(f, "{v}"),
            Value::Uint32(v) => write!(f, "{v}"),
            Value::Uint64(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Double(v) => write!(f, "{v}"),
            array => write!(f, "{}", array.to_json()),
        }
    }
}

/// Implements `From<$type>` for [`Value`] with the variant that carries it.
macro_rules! value_from {
    ($($type:ty => $variant:ident),* $(,)?) => {
        $(
            impl From<$type> for Value {
                fn from(value: $type) -> Value {
                    Value::$variant(value)
                }
            }
        )*
    };
}

value_from! {
    String => String,
    bool => Bool,
    i32 => Int32,
    i64 => Int64,
    u32 => Uint32,
    u64 => Uint64,
    f32 => Float,
    f64 => Double,
    Vec<String> => StringArray,
    Vec<bool> => BoolArray,
    Vec<i32> => Int32Array,
    Vec<i64> => Int64Array,
    Vec<u32> => Uint32Array,
    Vec<u64> => Uint64Array,
    Vec<f32> => FloatArray,
    Vec<f64> => DoubleArray,
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::String(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_uses_wire_variants() {
        assert_eq!(Value::parse("7", DataType::Uint8), Ok(Value::Uint32(7)));
        assert_eq!(Value::parse("-7", DataType::Int16), Ok(Value::Int32(-7)));
        assert_eq!(Value::parse("1.5", DataType::Float), Ok(Value::Float(1.5)));
        assert_eq!(
            Value::parse("true", DataType::Boolean),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            Value::parse("[1, 2]", DataType::Uint8Array),
            Ok(Value::Uint32Array(vec![1, 2]))
        );
    }

    #[test]
    fn parse_refuses_values_outside_the_datatype() {
        let error = Value::parse("300", DataType::Uint8).unwrap_err();
        assert!(error.contains("outside the range of uint8"), "{error}");
        assert!(Value::parse("abc", DataType::Float).is_err());
        assert!(Value::parse("[1, -1]", DataType::Uint8Array).is_err());
    }

    #[test]
    fn from_json_checks_types() {
        assert_eq!(
            Value::from_json(&json!(["A", "B"]), DataType::StringArray),
            Ok(Value::StringArray(vec!["A".into(), "B".into()]))
        );
        assert!(Value::from_json(&json!("x"), DataType::Int32).is_err());
        assert_eq!(
            Value::from_json(&json!(2.0), DataType::Uint16),
            Ok(Value::Uint32(2))
        );
    }

    #[test]
    fn wire_variant_must_fit_the_datatype() {
        assert!(Value::Uint32(1).fits_datatype(DataType::Uint8));
        assert!(!Value::Int32(1).fits_datatype(DataType::Uint8));
        assert!(!Value::Double(1.0).fits_datatype(DataType::Float));
    }

    #[test]
    fn rust_values_convert_to_their_wire_variant() {
        assert_eq!(Value::from(1.5f32), Value::Float(1.5));
        assert_eq!(Value::from(1.5f64), Value::Double(1.5));
        assert_eq!(Value::from(-3i32), Value::Int32(-3));
        assert_eq!(Value::from(7u64), Value::Uint64(7));
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from("DRIVING"), Value::String("DRIVING".into()));
        assert_eq!(Value::from(vec![1u32, 2]), Value::Uint32Array(vec![1, 2]));
    }
}
