//! VISS errors: the status number, the reason and a description.

use serde_json::{json, Value as Json};
use tomoe_auth::AuthError;
use tomoe_broker::BrokerError;
use tomoe_history::HistoryError;

/// A VISS error response's `error` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VissError {
    /// The HTTP status code it stands for (400, 401, 403, 404, 408, 503...).
    pub number: u16,
    /// The VISS reason (`bad_request`, `invalid_data`, `invalid_token`, ...).
    pub reason: &'static str,
    /// What went wrong, in words.
    pub description: String,
}

impl VissError {
    /// 400 `bad_request`: the request is malformed.
    pub fn bad_request(description: impl Into<String>) -> VissError {
        VissError::new(400, "bad_request", description)
    }

    /// 400 `invalid_data`: data in the request is invalid.
    pub fn invalid_data(description: impl Into<String>) -> VissError {
        VissError::new(400, "invalid_data", description)
    }

    /// 404 `unavailable_data`: the requested data was not found.
    pub fn unavailable(description: impl Into<String>) -> VissError {
        VissError::new(404, "unavailable_data", description)
    }

    /// 404 `invalid_path`: no node has this path.
    pub fn invalid_path(path: &str) -> VissError {
        VissError::new(
            404,
            "invalid_path",
            format!("Data is unknown: no node has the path \"{path}\""),
        )
    }

    /// 401 `missing_token`.
    pub fn missing_token() -> VissError {
        VissError::new(401, "missing_token", "Access token is missing")
    }

    /// 503 `service_unavailable`.
    pub fn unavailable_service(description: impl Into<String>) -> VissError {
        VissError::new(503, "service_unavailable", description)
    }

    /// An error with these parts.
    pub fn new(number: u16, reason: &'static str, description: impl Into<String>) -> VissError {
        VissError {
            number,
            reason,
            description: description.into(),
        }
    }

    /// The `error` object: `number` as a string, `reason`, `description` (VISS v3)
    /// and the same text as `message` (VISS v2).
    pub fn to_json(&self) -> Json {
        json!({
            "number": self.number.to_string(),
            "reason": self.reason,
            "description": self.description,
            "message": self.description,
        })
    }
}

impl From<AuthError> for VissError {
    fn from(error: AuthError) -> VissError {
        match error {
            AuthError::MissingToken => VissError::missing_token(),
            AuthError::Expired => VissError::new(401, "expired_token", "Access token has expired"),
            other => VissError::new(401, "invalid_token", other.to_string()),
        }
    }
}

impl From<BrokerError> for VissError {
    fn from(error: BrokerError) -> VissError {
        let text = error.to_string();
        match error.reason() {
            BrokerError::NotFound { path } => VissError::invalid_path(path),
            BrokerError::UnknownId { .. } => VissError::unavailable(text),
            BrokerError::InvalidPattern(_) => VissError::bad_request(text),
            BrokerError::InvalidValue(_) => VissError::invalid_data(text),
            BrokerError::NotAnActuator { .. } => VissError::invalid_data(text),
            BrokerError::PermissionDenied { .. } | BrokerError::PrivateBranch { .. } => {
                VissError::new(403, "forbidden_request", text)
            }
            BrokerError::PermissionExpired => {
                VissError::new(401, "expired_token", "Access token has expired")
            }
            BrokerError::ProviderFailed { reason, .. } if reason.contains("did not answer") => {
                VissError::new(408, "request_timeout", text)
            }
            BrokerError::NoProvider { .. }
            | BrokerError::ProviderOverloaded { .. }
            | BrokerError::ProviderFailed { .. }
            | BrokerError::Storage(_)
            | BrokerError::Restore(_) => VissError::unavailable_service(text),
            BrokerError::Empty => VissError::unavailable(text),
            _ => VissError::bad_request(text),
        }
    }
}

impl From<HistoryError> for VissError {
    fn from(error: HistoryError) -> VissError {
        match &error {
            HistoryError::UnknownPath { path } => VissError::invalid_path(path),
            HistoryError::NotRecorded { .. } => VissError::unavailable(error.to_string()),
            HistoryError::TooManySamples { .. } => VissError::invalid_data(format!(
                "The history asked for holds more than {} samples; ask for a shorter period or fewer signals",
                crate::MAX_HISTORY_SAMPLES
            )),
            _ => VissError::unavailable_service(error.to_string()),
        }
    }
}
