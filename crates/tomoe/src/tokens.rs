//! The runtime's broker tokens: signed with a key of the data directory, trusted by
//! the broker `tomoe up` starts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tomoe_runtime::TokenSource;

/// How long a workload's token is valid; it is renewed at every start.
const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

struct IssuerTokens(tomoe_auth::TokenIssuer);

impl TokenSource for IssuerTokens {
    fn token_for(&self, workload: &str, scope: &str) -> Result<String, String> {
        self.0
            .issue(workload, scope, TOKEN_LIFETIME)
            .map_err(|e| e.to_string())
    }
}

/// The token source of the runtime, with its key in `<data_dir>/keys`.
pub fn runtime_tokens(data_dir: &Path) -> anyhow::Result<Option<Arc<dyn TokenSource>>> {
    let issuer = tomoe_auth::TokenIssuer::load_or_create(&data_dir.join("keys"))?;
    Ok(Some(Arc::new(IssuerTokens(issuer))))
}

/// The verifier of the runtime's tokens, for the broker.
pub fn runtime_verifier(data_dir: &Path) -> anyhow::Result<tomoe_auth::TokenVerifier> {
    Ok(tomoe_auth::TokenIssuer::load_or_create(&data_dir.join("keys"))?.verifier())
}
