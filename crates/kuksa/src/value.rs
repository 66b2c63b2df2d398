//! Values and datapoints to and from the v1 and v2 protobuf types.
//!
//! A [`Value`] has exactly the protocol's wire variants (`int8` travels as
//! `Int32`, `timestamp` as `Int64`), so each conversion is one to one.

use std::time::SystemTime;

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use tomoe_vss::Value;

/// A value as a v2 value.
pub fn value_to_v2(value: &Value) -> v2::Value {
    use v2::value::TypedValue as T;
    let typed = match value.clone() {
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

/// A v2 value as a value; `None` when the value is empty.
pub fn value_from_v2(value: v2::Value) -> Option<Value> {
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

/// A value as the v1 datapoint oneof.
pub fn value_to_v1(value: &Value) -> v1::datapoint::Value {
    use v1::datapoint::Value as V;
    match value.clone() {
        Value::String(v) => V::String(v),
        Value::Bool(v) => V::Bool(v),
        Value::Int32(v) => V::Int32(v),
        Value::Int64(v) => V::Int64(v),
        Value::Uint32(v) => V::Uint32(v),
        Value::Uint64(v) => V::Uint64(v),
        Value::Float(v) => V::Float(v),
        Value::Double(v) => V::Double(v),
        Value::StringArray(values) => V::StringArray(v1::StringArray { values }),
        Value::BoolArray(values) => V::BoolArray(v1::BoolArray { values }),
        Value::Int32Array(values) => V::Int32Array(v1::Int32Array { values }),
        Value::Int64Array(values) => V::Int64Array(v1::Int64Array { values }),
        Value::Uint32Array(values) => V::Uint32Array(v1::Uint32Array { values }),
        Value::Uint64Array(values) => V::Uint64Array(v1::Uint64Array { values }),
        Value::FloatArray(values) => V::FloatArray(v1::FloatArray { values }),
        Value::DoubleArray(values) => V::DoubleArray(v1::DoubleArray { values }),
    }
}

/// The v1 datapoint oneof as a value.
pub fn value_from_v1(value: v1::datapoint::Value) -> Value {
    use v1::datapoint::Value as V;
    match value {
        V::String(v) => Value::String(v),
        V::Bool(v) => Value::Bool(v),
        V::Int32(v) => Value::Int32(v),
        V::Int64(v) => Value::Int64(v),
        V::Uint32(v) => Value::Uint32(v),
        V::Uint64(v) => Value::Uint64(v),
        V::Float(v) => Value::Float(v),
        V::Double(v) => Value::Double(v),
        V::StringArray(a) => Value::StringArray(a.values),
        V::BoolArray(a) => Value::BoolArray(a.values),
        V::Int32Array(a) => Value::Int32Array(a.values),
        V::Int64Array(a) => Value::Int64Array(a.values),
        V::Uint32Array(a) => Value::Uint32Array(a.values),
        V::Uint64Array(a) => Value::Uint64Array(a.values),
        V::FloatArray(a) => Value::FloatArray(a.values),
        V::DoubleArray(a) => Value::DoubleArray(a.values),
    }
}

/// A v2 datapoint of `value` (`None`: no value) stamped with `timestamp`
/// (`None`: the receiver stamps it, as a client's writes leave it).
pub fn datapoint_to_v2(value: Option<&Value>, timestamp: Option<SystemTime>) -> v2::Datapoint {
    v2::Datapoint {
        timestamp: timestamp.map(Into::into),
        value: value.map(value_to_v2),
    }
}

/// A v1 datapoint of `value` (`None`: no value) stamped with `timestamp`
/// (`None`: the receiver stamps it).
pub fn datapoint_to_v1(value: Option<&Value>, timestamp: Option<SystemTime>) -> v1::Datapoint {
    v1::Datapoint {
        timestamp: timestamp.map(Into::into),
        value: value.map(value_to_v1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// One value of every wire variant, scalars and arrays.
    fn every_variant() -> Vec<Value> {
        vec![
            Value::String("a".into()),
            Value::Bool(true),
            Value::Int32(-1),
            Value::Int64(-2),
            Value::Uint32(3),
            Value::Uint64(4),
            Value::Float(1.5),
            Value::Double(2.5),
            Value::StringArray(vec!["x".into(), String::new()]),
            Value::BoolArray(vec![false, true]),
            Value::Int32Array(vec![i32::MIN, 1]),
            Value::Int64Array(vec![i64::MAX]),
            Value::Uint32Array(vec![1, 2]),
            Value::Uint64Array(vec![u64::MAX]),
            Value::FloatArray(vec![0.25]),
            Value::DoubleArray(vec![0.5, -0.5]),
            Value::DoubleArray(vec![]),
        ]
    }

    #[test]
    fn values_round_trip_through_both_protocols() {
        for value in every_variant() {
            assert_eq!(value_from_v2(value_to_v2(&value)), Some(value.clone()));
            assert_eq!(value_from_v1(value_to_v1(&value)), value);
        }
        assert_eq!(value_from_v2(v2::Value { typed_value: None }), None);
    }

    #[test]
    fn each_variant_keeps_its_wire_type() {
        use v2::value::TypedValue as T;
        let check = |value: Value, expected: T| {
            assert_eq!(value_to_v2(&value).typed_value, Some(expected), "{value:?}");
        };
        check(Value::Float(1.5), T::Float(1.5));
        check(Value::Double(1.5), T::Double(1.5));
        check(Value::Uint32(7), T::Uint32(7));
        check(Value::Int64(-7), T::Int64(-7));
        check(
            Value::BoolArray(vec![true]),
            T::BoolArray(v2::BoolArray { values: vec![true] }),
        );
        assert_eq!(
            value_to_v1(&Value::Uint64(9)),
            v1::datapoint::Value::Uint64(9)
        );
    }

    #[test]
    fn datapoints_carry_the_timestamp_when_given() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_500);
        let value = Value::Int32(5);
        let stamped = datapoint_to_v2(Some(&value), Some(at));
        let timestamp = stamped.timestamp.expect("a timestamp");
        assert_eq!((timestamp.seconds, timestamp.nanos), (1, 500_000_000));
        assert_eq!(stamped.value.and_then(value_from_v2), Some(value.clone()));
        let unstamped = datapoint_to_v2(None, None);
        assert_eq!((unstamped.timestamp, unstamped.value), (None, None));
        let v1 = datapoint_to_v1(Some(&value), Some(at));
        assert_eq!(v1.timestamp.map(|t| t.seconds), Some(1));
        assert_eq!(v1.value.map(value_from_v1), Some(value));
        assert_eq!(datapoint_to_v1(None, None).value, None);
    }
}
