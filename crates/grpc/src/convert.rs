//! Conversions between broker types and the KUKSA protocol types, and the mapping
//! of broker errors to gRPC statuses. Clients of the API (the CLI, tools) use the
//! public functions to speak the protocol with broker types.

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use tomoe_broker::{BrokerError, Datapoint};
use tomoe_vss::{DataType, EntryType, Leaf, Value};
use tonic::{Code, Status};

/// The protocol's numeric code of a datatype (the same in v1 and v2).
pub fn datatype_code(datatype: DataType) -> i32 {
    match datatype {
        DataType::String => 1,
        DataType::Boolean => 2,
        DataType::Int8 => 3,
        DataType::Int16 => 4,
        DataType::Int32 => 5,
        DataType::Int64 => 6,
        DataType::Uint8 => 7,
        DataType::Uint16 => 8,
        DataType::Uint32 => 9,
        DataType::Uint64 => 10,
        DataType::Float => 11,
        DataType::Double => 12,
        DataType::Timestamp => 13,
        DataType::StringArray => 20,
        DataType::BooleanArray => 21,
        DataType::Int8Array => 22,
        DataType::Int16Array => 23,
        DataType::Int32Array => 24,
        DataType::Int64Array => 25,
        DataType::Uint8Array => 26,
        DataType::Uint16Array => 27,
        DataType::Uint32Array => 28,
        DataType::Uint64Array => 29,
        DataType::FloatArray => 30,
        DataType::DoubleArray => 31,
        DataType::TimestampArray => 32,
    }
}

/// The datatype with the protocol's numeric `code`.
pub fn datatype_from_code(code: i32) -> Option<DataType> {
    DataType::ALL
        .into_iter()
        .find(|datatype| datatype_code(*datatype) == code)
}

/// The entry type with the protocol's numeric `code`.
pub fn entry_type_from_code(code: i32) -> Option<EntryType> {
    [EntryType::Attribute, EntryType::Sensor, EntryType::Actuator]
        .into_iter()
        .find(|entry_type| entry_type_code(*entry_type) == code)
}

/// The protocol's numeric code of an entry type (the same in v1 and v2).
pub fn entry_type_code(entry_type: EntryType) -> i32 {
    match entry_type {
        EntryType::Attribute => 1,
        EntryType::Sensor => 2,
        EntryType::Actuator => 3,
    }
}

/// A broker value as a v2 value.
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

/// A v2 value as a broker value; `None` when the value is empty.
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

/// A broker datapoint as a v2 datapoint.
pub(crate) fn datapoint_to_v2(datapoint: &Datapoint) -> v2::Datapoint {
    v2::Datapoint {
        timestamp: Some(datapoint.timestamp.into()),
        value: datapoint.value.as_ref().map(value_to_v2),
    }
}

/// A broker value as the v1 datapoint oneof.
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

/// The v1 datapoint oneof as a broker value.
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

/// A broker datapoint as a v1 datapoint.
pub(crate) fn datapoint_to_v1(datapoint: &Datapoint) -> v1::Datapoint {
    v1::Datapoint {
        timestamp: Some(datapoint.timestamp.into()),
        value: datapoint.value.as_ref().map(value_to_v1),
    }
}

/// Packs the scalar `elements` (all of one variant) into an array value.
fn pack_array(elements: &[Value]) -> Option<Value> {
    let first = elements.first()?;
    macro_rules! pack {
        ($scalar:ident, $array:ident) => {
            Value::$array(
                elements
                    .iter()
                    .filter_map(|v| match v {
                        Value::$scalar(x) => Some(x.clone()),
                        _ => None,
                    })
                    .collect(),
            )
        };
    }
    Some(match first {
        Value::String(_) => pack!(String, StringArray),
        Value::Bool(_) => pack!(Bool, BoolArray),
        Value::Int32(_) => pack!(Int32, Int32Array),
        Value::Int64(_) => pack!(Int64, Int64Array),
        Value::Uint32(_) => pack!(Uint32, Uint32Array),
        Value::Uint64(_) => pack!(Uint64, Uint64Array),
        Value::Float(_) => pack!(Float, FloatArray),
        Value::Double(_) => pack!(Double, DoubleArray),
        array => array.clone(),
    })
}

/// A leaf's metadata as v2 metadata.
pub(crate) fn metadata_to_v2(leaf: &Leaf) -> v2::Metadata {
    v2::Metadata {
        path: leaf.path.clone(),
        id: leaf.id.0 as i32,
        data_type: datatype_code(leaf.datatype),
        entry_type: entry_type_code(leaf.entry_type),
        description: leaf.description.clone(),
        comment: leaf.comment.clone().unwrap_or_default(),
        deprecation: leaf.deprecation.clone().unwrap_or_default(),
        unit: leaf.unit.clone().unwrap_or_default(),
        allowed_values: pack_array(&leaf.allowed).as_ref().map(value_to_v2),
        min: leaf.min.as_ref().map(value_to_v2),
        max: leaf.max.as_ref().map(value_to_v2),
        min_sample_interval: None,
    }
}

/// A leaf's metadata as v1 metadata.
pub(crate) fn metadata_to_v1(leaf: &Leaf) -> v1::Metadata {
    use v1::metadata::EntrySpecific;
    use v1::value_restriction::Type;
    let integer = |value: &Option<Value>| -> Option<i128> {
        value.as_ref().and_then(|v| match v {
            Value::Int32(x) => Some((*x).into()),
            Value::Int64(x) => Some((*x).into()),
            Value::Uint32(x) => Some((*x).into()),
            Value::Uint64(x) => Some((*x).into()),
            _ => None,
        })
    };
    let real = |value: &Option<Value>| -> Option<f64> {
        value.as_ref().and_then(|v| match v {
            Value::Float(x) => Some((*x).into()),
            Value::Double(x) => Some(*x),
            _ => None,
        })
    };
    let has_restriction = leaf.min.is_some() || leaf.max.is_some() || !leaf.allowed.is_empty();
    let restriction = has_restriction.then(|| {
        let element = leaf.datatype.element();
        let kind = match element {
            DataType::String => Type::String(v1::ValueRestrictionString {
                allowed_values: leaf.allowed.iter().map(Value::to_string).collect(),
            }),
            DataType::Float | DataType::Double => Type::FloatingPoint(v1::ValueRestrictionFloat {
                min: real(&leaf.min),
                max: real(&leaf.max),
                allowed_values: leaf
                    .allowed
                    .iter()
                    .filter_map(|v| real(&Some(v.clone())))
                    .collect(),
            }),
            DataType::Uint8 | DataType::Uint16 | DataType::Uint32 | DataType::Uint64 => {
                Type::Unsigned(v1::ValueRestrictionUint {
                    min: integer(&leaf.min).map(|x| x as u64),
                    max: integer(&leaf.max).map(|x| x as u64),
                    allowed_values: leaf
                        .allowed
                        .iter()
                        .filter_map(|v| integer(&Some(v.clone())))
                        .map(|x| x as u64)
                        .collect(),
                })
            }
            _ => Type::Signed(v1::ValueRestrictionInt {
                min: integer(&leaf.min).map(|x| x as i64),
                max: integer(&leaf.max).map(|x| x as i64),
                allowed_values: leaf
                    .allowed
                    .iter()
                    .filter_map(|v| integer(&Some(v.clone())))
                    .map(|x| x as i64)
                    .collect(),
            }),
        };
        v1::ValueRestriction { r#type: Some(kind) }
    });
    v1::Metadata {
        data_type: datatype_code(leaf.datatype),
        entry_type: entry_type_code(leaf.entry_type),
        description: Some(leaf.description.clone()),
        comment: leaf.comment.clone(),
        deprecation: leaf.deprecation.clone(),
        unit: leaf.unit.clone(),
        value_restriction: restriction,
        entry_specific: Some(match leaf.entry_type {
            EntryType::Actuator => EntrySpecific::Actuator(v1::Actuator {}),
            EntryType::Sensor => EntrySpecific::Sensor(v1::Sensor {}),
            EntryType::Attribute => EntrySpecific::Attribute(v1::Attribute {}),
        }),
    }
}

/// The gRPC status KUKSA uses for a broker error, with Tomoe's precise message.
pub(crate) fn status_of(error: &BrokerError) -> Status {
    let code = match error {
        BrokerError::NotFound { .. } | BrokerError::UnknownId { .. } => Code::NotFound,
        BrokerError::NoProvider { .. } | BrokerError::ProviderOverloaded { .. } => {
            Code::Unavailable
        }
        BrokerError::AlreadyClaimed { .. } => Code::AlreadyExists,
        BrokerError::PermissionDenied { .. } => Code::PermissionDenied,
        BrokerError::PermissionExpired => Code::Unauthenticated,
        BrokerError::Storage(_) | BrokerError::Restore(_) => Code::Internal,
        _ => Code::InvalidArgument,
    };
    Status::new(code, error_chain(error))
}

/// The error and its causes, one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The v1 error record (HTTP-like code and reason) of a broker error.
pub(crate) fn v1_error_of(error: &BrokerError) -> v1::Error {
    let (code, reason) = match error {
        BrokerError::NotFound { .. } | BrokerError::UnknownId { .. } => (404, "not_found"),
        BrokerError::InvalidValue(tomoe_vss::ValueError::WrongType { .. }) => {
            (400, "type mismatch")
        }
        BrokerError::InvalidValue(tomoe_vss::ValueError::OutOfRange { .. }) => {
            (400, "value out of min/max bounds")
        }
        BrokerError::InvalidValue(tomoe_vss::ValueError::NotAllowed { .. }) => {
            (400, "value out of allowed bounds")
        }
        BrokerError::PermissionDenied { .. } => (403, "forbidden"),
        BrokerError::PermissionExpired => (401, "unauthorized"),
        BrokerError::NoProvider { .. } | BrokerError::ProviderOverloaded { .. } => {
            (503, "unavailable")
        }
        BrokerError::Storage(_) => (500, "internal_error"),
        _ => (400, "bad_request"),
    };
    v1::Error {
        code,
        reason: reason.to_owned(),
        message: error_chain(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_both_protocols() {
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
            Value::Uint32Array(vec![1, 2]),
            Value::DoubleArray(vec![0.5]),
        ];
        for value in values {
            assert_eq!(value_from_v2(value_to_v2(&value)), Some(value.clone()));
            assert_eq!(value_from_v1(value_to_v1(&value)), value);
        }
    }

    #[test]
    fn errors_map_to_kuksa_codes() {
        let not_found = BrokerError::NotFound {
            path: "Vehicle.Nope".into(),
        };
        assert_eq!(status_of(&not_found).code(), Code::NotFound);
        assert_eq!(v1_error_of(&not_found).code, 404);
        let no_provider = BrokerError::NoProvider {
            path: "Vehicle.X".into(),
            id: 1,
        };
        assert_eq!(status_of(&no_provider).code(), Code::Unavailable);
        assert_eq!(
            status_of(&BrokerError::PermissionExpired).code(),
            Code::Unauthenticated
        );
    }
}
