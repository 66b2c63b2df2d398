//! Keeps the VSS DTC lists equal to the fault memory's confirmed codes.

use tokio::sync::broadcast::error::RecvError;
use tomoe_broker::{Broker, Permissions};
use tomoe_vss::Value;

use crate::memory::FaultMemory;

/// The VSS leaves that list the confirmed codes: `Vehicle.OBD.DTCList` and its
/// successor since VSS 5.0, each where the catalog has it.
pub const DTC_LIST_PATHS: [&str; 2] = ["Vehicle.OBD.DTCList", "Vehicle.Diagnostics.DTCList"];

fn publish(broker: &Broker, permissions: &Permissions, memory: &FaultMemory) {
    let codes = memory.confirmed_codes();
    let updates: Vec<_> = DTC_LIST_PATHS
        .iter()
        .filter_map(|path| broker.catalog().leaf(path))
        .map(|leaf| (leaf.id, Some(Value::StringArray(codes.clone()))))
        .collect();
    if updates.is_empty() {
        return;
    }
    if let Err(error) = broker.publish(permissions, &updates) {
        tracing::warn!(%error, "cannot publish the DTC list");
    }
}

/// Publishes the confirmed codes now and after every change of `memory`, until
/// the memory goes away.
pub async fn publish_dtc_list(broker: Broker, permissions: Permissions, memory: FaultMemory) {
    let mut events = memory.subscribe();
    publish(&broker, &permissions, &memory);
    loop {
        match events.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {
                // Several changes at once publish one list.
                while events.try_recv().is_ok() {}
                publish(&broker, &permissions, &memory);
            }
            Err(RecvError::Closed) => return,
        }
    }
}
