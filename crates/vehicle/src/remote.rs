//! A KUKSA broker reached over gRPC as a [`ValueSink`]: how a replay feeds a
//! broker running elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kuksa_rust_sdk::v2_proto as v2;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tomoe_broker::{refused_publications, Permissions, RefusedEntry};
use tomoe_kuksa::value_to_v2;
use tomoe_vss::{Catalog, LeafId, Value};

use crate::feed::{FeedError, ValueSink};

fn sink_error(message: String) -> FeedError {
    FeedError::Sink(message.into())
}

/// A KUKSA broker reached over gRPC as a [`ValueSink`]: each batch is one
/// `PublishValuesRequest` on a provider stream. The remote broker refuses a batch
/// with one bad entry as a whole, so entries the profile's catalog refuses (by the
/// broker's own rules, `tomoe_broker::refused_publications`) are dropped and
/// reported here first; what the remote broker still refuses is logged.
pub struct RemoteSink {
    outbound: Option<mpsc::Sender<v2::OpenProviderStreamRequest>>,
    catalog: Arc<Catalog>,
    remote_ids: HashMap<String, i32>,
    request_id: u32,
    /// Set by the response reader when the broker ends the stream.
    ended: Arc<Mutex<Option<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl RemoteSink {
    /// Connects to the broker at `url` (with `token`, if given), maps the leaves of
    /// `catalog` to the broker's ids by path and opens a provider stream.
    pub async fn connect(
        url: &str,
        token: Option<&str>,
        catalog: Arc<Catalog>,
    ) -> Result<RemoteSink, FeedError> {
        let mut client = tomoe_kuksa::Connector::new(url)
            .token(token)
            .connect()
            .await
            .map_err(|error| sink_error(error.to_string()))?
            .v2;
        let metadata = client
            .list_metadata(v2::ListMetadataRequest {
                root: "**".into(),
                filter: String::new(),
            })
            .await
            .map_err(|s| {
                sink_error(format!(
                    "the broker refused to list metadata: {}",
                    s.message()
                ))
            })?
            .into_inner()
            .metadata;
        let remote_ids = metadata.into_iter().map(|m| (m.path, m.id)).collect();
        let (outbound, inbound) = mpsc::channel(64);
        let responses = client
            .open_provider_stream(ReceiverStream::new(inbound))
            .await
            .map_err(|s| {
                sink_error(format!(
                    "the broker refused the provider stream: {}",
                    s.message()
                ))
            })?
            .into_inner();
        Ok(RemoteSink::start(outbound, responses, catalog, remote_ids))
    }

    fn start(
        outbound: mpsc::Sender<v2::OpenProviderStreamRequest>,
        mut responses: tonic::Streaming<v2::OpenProviderStreamResponse>,
        catalog: Arc<Catalog>,
        remote_ids: HashMap<String, i32>,
    ) -> RemoteSink {
        let ended = Arc::new(Mutex::new(None));
        let reason = ended.clone();
        let reader = tokio::spawn(async move {
            let message = loop {
                match futures::StreamExt::next(&mut responses).await {
                    Some(Ok(message)) => {
                        if let Some(
                            v2::open_provider_stream_response::Action::PublishValuesResponse(r),
                        ) = message.action
                        {
                            for (id, error) in r.status {
                                tracing::warn!(id, message = %error.message, "the broker refused a value");
                            }
                        }
                    }
                    Some(Err(status)) => {
                        break format!("the broker ended the provider stream: {}", status.message())
                    }
                    None => break "the broker closed the provider stream".to_owned(),
                }
            };
            if let Ok(mut ended) = reason.lock() {
                *ended = Some(message);
            }
        });
        RemoteSink {
            outbound: Some(outbound),
            catalog,
            remote_ids,
            request_id: 0,
            ended,
            reader,
        }
    }

    fn ended(&self) -> Option<String> {
        self.ended.lock().ok().and_then(|ended| ended.clone())
    }
}

impl ValueSink for RemoteSink {
    async fn publish(
        &mut self,
        values: Vec<(LeafId, Option<Value>)>,
    ) -> Result<Vec<RefusedEntry>, FeedError> {
        if let Some(reason) = self.ended() {
            return Err(FeedError::Sink(reason.into()));
        }
        let refused = refused_publications(&self.catalog, &Permissions::allow_all(), &values);
        let refused_at: Vec<usize> = refused.iter().map(|entry| entry.index).collect();
        let data_points = values
            .into_iter()
            .enumerate()
            .filter(|(index, _)| refused_at.binary_search(index).is_err())
            .filter_map(|(_, (leaf, value))| {
                let id = self
                    .catalog
                    .leaf_by_id(leaf)
                    .and_then(|l| self.remote_ids.get(&l.path))?;
                let datapoint = v2::Datapoint {
                    timestamp: None,
                    value: value.as_ref().map(value_to_v2),
                };
                Some((*id, datapoint))
            })
            .collect();
        self.request_id = self.request_id.wrapping_add(1);
        let request = v2::OpenProviderStreamRequest {
            action: Some(
                v2::open_provider_stream_request::Action::PublishValuesRequest(
                    v2::PublishValuesRequest {
                        request_id: self.request_id,
                        data_points,
                    },
                ),
            ),
        };
        let outbound = self
            .outbound
            .as_ref()
            .ok_or_else(|| FeedError::Sink("the provider stream is closed".into()))?;
        outbound
            .send(request)
            .await
            .map_err(|_| FeedError::Sink("the provider stream closed".into()))?;
        Ok(refused)
    }

    async fn finish(&mut self) -> Result<(), FeedError> {
        self.outbound = None;
        // Let the broker take the last batch before the call ends.
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut self.reader).await;
        self.reader.abort();
        Ok(())
    }
}
