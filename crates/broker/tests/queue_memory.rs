//! Memory of subscriber queues: values are shared by every queue, not copied per
//! subscriber, and a subscriber that stops reading is cut off at a byte budget.
//!
//! Memory is measured as this test process's resident set, so the tests here run
//! one at a time.

use std::sync::Mutex;

use tomoe_broker::{
    Broker, BrokerConfig, Field, Permissions, SubscriptionEvent, MAX_SUBSCRIBER_QUEUE_BYTES,
};
use tomoe_vss::{CatalogBuilder, Value};

/// This process's resident memory, in bytes.
fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The tests run one at a time, so that one's allocations do not count in another.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(test: impl std::future::Future<Output = ()>) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(test);
}

const CATALOG: &str = r#"{"Vehicle": {"type": "branch", "description": "root", "children": {
    "Blob": {"type": "sensor", "datatype": "string", "description": "a large value"},
    "Speed": {"type": "sensor", "datatype": "float", "description": "speed"}
}}}"#;

fn broker() -> Broker {
    let catalog = CatalogBuilder::new()
        .json_str(CATALOG, "test")
        .unwrap()
        .build()
        .unwrap();
    Broker::new(catalog, BrokerConfig::default(), None).unwrap()
}

const VALUE_BYTES: usize = 64 * 1024;

fn blob(n: usize) -> Value {
    let mut text = format!("{n}:");
    text.extend(std::iter::repeat_n('x', VALUE_BYTES - text.len()));
    Value::String(text)
}

// Before values were shared, 100 stuck subscribers on 64 KiB values held a copy
// each: 100 publications cost 100 × 100 × 64 KiB = 655 MB. Shared, they cost
// one copy per publication (6.5 MB), whatever the number of subscribers.
#[test]
fn queued_values_are_shared_between_subscribers() {
    run(async {
        let broker = broker();
        let all = Permissions::allow_all();
        let id = broker.resolve_path("Vehicle.Blob").unwrap();
        let subscribers: Vec<_> = (0..100)
            .map(|_| {
                broker
                    .subscribe(&all, &[id], Field::Current, 0, false)
                    .unwrap()
            })
            .collect();
        let before = resident_bytes();
        for n in 0..100 {
            broker.publish(&all, &[(id, Some(blob(n)))]).unwrap();
        }
        let grown = resident_bytes().saturating_sub(before);
        assert_eq!(broker.subscription_count(), 100, "nobody lagged yet");
        // 100 values of 64 KiB (6.5 MB), plus the broker's current value, the
        // allocator's slack and bookkeeping; copies would be 655 MB.
        let shared = 100 * VALUE_BYTES;
        assert!(
            grown < shared * 8,
            "queues hold {grown} bytes for {shared} bytes of published values: copies per subscriber"
        );
        drop(subscribers);
    });
}

// A stuck subscriber is disconnected once its queue holds the byte budget,
// long before its queue's batch count (256) is reached; the others go on.
#[test]
fn a_stuck_subscriber_is_cut_off_at_its_byte_budget() {
    run(async {
        let broker = broker();
        let all = Permissions::allow_all();
        let id = broker.resolve_path("Vehicle.Blob").unwrap();
        let mut stuck = broker
            .subscribe(&all, &[id], Field::Current, 0, false)
            .unwrap();
        let mut reader = broker
            .subscribe(&all, &[id], Field::Current, 0, false)
            .unwrap();
        let fit = MAX_SUBSCRIBER_QUEUE_BYTES / VALUE_BYTES;
        assert!(fit < 256, "the byte budget, not the batch count, must bind");
        for n in 0..fit + 4 {
            broker.publish(&all, &[(id, Some(blob(n)))]).unwrap();
            match reader.next().await {
                Some(SubscriptionEvent::Changes(changes)) => {
                    assert_eq!(changes[0].datapoint.value, Some(blob(n)));
                }
                other => panic!("reader got {other:?}"),
            }
        }
        assert_eq!(
            broker.subscription_count(),
            1,
            "the stuck subscriber is gone"
        );
        let mut delivered = 0;
        loop {
            match stuck.next().await {
                Some(SubscriptionEvent::Changes(_)) => delivered += 1,
                Some(SubscriptionEvent::Lagged { dropped }) => {
                    assert_eq!(dropped, 1);
                    break;
                }
                None => panic!("the lag was not reported"),
            }
        }
        assert!(
            (fit - 1..=fit).contains(&delivered),
            "delivered {delivered}, budget fits {fit}"
        );
        assert!(stuck.next().await.is_none());
    });
}

// One batch larger than the whole budget still reaches a subscriber that keeps up.
#[test]
fn a_batch_larger_than_the_budget_reaches_an_empty_queue() {
    run(async {
        let broker = broker();
        let all = Permissions::allow_all();
        let id = broker.resolve_path("Vehicle.Blob").unwrap();
        let mut reader = broker
            .subscribe(&all, &[id], Field::Current, 0, false)
            .unwrap();
        let huge = Value::String("x".repeat(MAX_SUBSCRIBER_QUEUE_BYTES + 1));
        broker.publish(&all, &[(id, Some(huge.clone()))]).unwrap();
        match reader.next().await {
            Some(SubscriptionEvent::Changes(changes)) => {
                assert_eq!(changes[0].datapoint.value, Some(huge));
            }
            other => panic!("reader got {other:?}"),
        }
    });
}
