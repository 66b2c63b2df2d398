//! What the KUKSA protocol needs of broker types: broker datapoints as protocol
//! datapoints, and broker errors as gRPC statuses and v1 error records. The
//! protocol's own conversions (values, metadata, codes) are in `tomoe-kuksa`.

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use tomoe_broker::{BrokerError, Datapoint};
use tonic::{Code, Status};

/// A broker datapoint as a v2 datapoint, stamped with the broker's time.
pub(crate) fn datapoint_to_v2(datapoint: &Datapoint) -> v2::Datapoint {
    tomoe_kuksa::datapoint_to_v2(datapoint.value.as_ref(), Some(datapoint.timestamp))
}

/// A broker datapoint as a v1 datapoint, stamped with the broker's time.
pub(crate) fn datapoint_to_v1(datapoint: &Datapoint) -> v1::Datapoint {
    tomoe_kuksa::datapoint_to_v1(datapoint.value.as_ref(), Some(datapoint.timestamp))
}

/// The gRPC status KUKSA uses for a broker error, with Tomoe's precise message.
/// A refused batch entry is reported by its reason, which names the signal.
pub(crate) fn status_of(error: &BrokerError) -> Status {
    let error = error.reason();
    let code = match error {
        BrokerError::NotFound { .. } | BrokerError::UnknownId { .. } => Code::NotFound,
        BrokerError::NoProvider { .. }
        | BrokerError::ProviderOverloaded { .. }
        | BrokerError::ProviderFailed { .. } => Code::Unavailable,
        BrokerError::AlreadyClaimed { .. } => Code::AlreadyExists,
        BrokerError::PermissionDenied { .. } | BrokerError::PrivateBranch { .. } => {
            Code::PermissionDenied
        }
        BrokerError::PermissionExpired => Code::Unauthenticated,
        BrokerError::AnswerTooLarge { .. } => Code::ResourceExhausted,
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
    let error = error.reason();
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
        BrokerError::PermissionDenied { .. } | BrokerError::PrivateBranch { .. } => {
            (403, "forbidden")
        }
        BrokerError::PermissionExpired => (401, "unauthorized"),
        BrokerError::NoProvider { .. }
        | BrokerError::ProviderOverloaded { .. }
        | BrokerError::ProviderFailed { .. } => (503, "unavailable"),
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
