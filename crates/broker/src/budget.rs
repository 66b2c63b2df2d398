//! Memory budgets of requests.

use tomoe_vss::{LeafId, Value};

use crate::{BrokerError, Datapoint};

/// The most bytes (about) one read may answer with: the 4 MiB a gRPC client
/// accepts in a message by default.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Checks, before anything is copied, that the answer of a read of `ids` in
/// `values` stays within [`MAX_ANSWER_BYTES`]: one large value named many times
/// used to take gigabytes.
pub(crate) fn check_answer(values: &[Datapoint], ids: &[LeafId]) -> Result<(), BrokerError> {
    let bytes: usize = ids
        .iter()
        .map(|id| {
            values[id.0 as usize]
                .value
                .as_ref()
                .map_or(0, Value::approx_bytes)
                + 32
        })
        .sum();
    if bytes > MAX_ANSWER_BYTES {
        return Err(BrokerError::AnswerTooLarge {
            bytes,
            limit: MAX_ANSWER_BYTES,
        });
    }
    Ok(())
}
