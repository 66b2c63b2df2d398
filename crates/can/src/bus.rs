//! An in-process CAN bus for tests and simulation.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{CanError, Frame, FrameSink, FrameSource};

/// An in-process CAN bus: every frame sent reaches every receiver.
///
/// Any number of [`BusSender`]s and [`BusReceiver`]s can be attached. A receiver
/// sees the frames sent after it was created, in sending order. Sending never
/// waits: the bus holds the last `capacity` frames, and a receiver that falls
/// further behind loses the oldest ones. Its next `recv` then returns
/// [`CanError::Lagged`] with the number of frames it missed, and the call after
/// that continues with the oldest frame still held. Senders and other receivers
/// are not affected.
///
/// The bus ends for its receivers (`recv` returns `Ok(None)` once they have
/// read everything) when the `Bus` and all of its senders are dropped.
#[derive(Clone, Debug)]
pub struct Bus {
    sender: broadcast::Sender<Frame>,
}

impl Bus {
    /// A bus that holds up to `capacity` frames for slow receivers (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// A new sender.
    pub fn sender(&self) -> BusSender {
        BusSender {
            sender: self.sender.clone(),
        }
    }

    /// A new receiver, which sees frames sent from now on.
    pub fn receiver(&self) -> BusReceiver {
        BusReceiver {
            receiver: self.sender.subscribe(),
        }
    }

    /// Number of receivers attached.
    pub fn receiver_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// Sends frames onto a [`Bus`]; a [`FrameSink`].
#[derive(Clone, Debug)]
pub struct BusSender {
    sender: broadcast::Sender<Frame>,
}

#[async_trait]
impl FrameSink for BusSender {
    /// Puts the frame on the bus; with no receiver attached it is dropped, as on
    /// a real bus nobody listens to.
    async fn send(&mut self, frame: &Frame) -> Result<(), CanError> {
        // An error only means that no receiver is attached.
        let _ = self.sender.send(frame.clone());
        Ok(())
    }
}

/// Receives the frames sent on a [`Bus`]; a [`FrameSource`].
#[derive(Debug)]
pub struct BusReceiver {
    receiver: broadcast::Receiver<Frame>,
}

#[async_trait]
impl FrameSource for BusReceiver {
    async fn recv(&mut self) -> Result<Option<Frame>, CanError> {
        match self.receiver.recv().await {
            Ok(frame) => Ok(Some(frame)),
            Err(broadcast::error::RecvError::Closed) => Ok(None),
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "bus receiver fell behind and lost frames");
                Err(CanError::Lagged { skipped })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u32) -> Frame {
        Frame::new("sim0", id, false, &[id as u8]).unwrap()
    }

    #[tokio::test]
    async fn fan_out_to_two_receivers() {
        let bus = Bus::new(16);
        let mut first = bus.receiver();
        let mut second = bus.receiver();
        let mut sender = bus.sender();
        let mut other_sender = bus.sender();
        drop(bus);

        sender.send(&frame(1)).await.unwrap();
        other_sender.send(&frame(2)).await.unwrap();
        sender.send(&frame(3)).await.unwrap();
        drop((sender, other_sender));

        for receiver in [&mut first, &mut second] {
            let mut ids = Vec::new();
            while let Some(frame) = receiver.recv().await.unwrap() {
                ids.push(frame.id());
            }
            assert_eq!(ids, [1, 2, 3]);
        }
    }

    #[tokio::test]
    async fn slow_receiver_lags_without_blocking_senders() {
        let bus = Bus::new(2);
        let mut slow = bus.receiver();
        let mut sender = bus.sender();
        for id in 1..=5 {
            // Never waits, although nobody reads.
            sender.send(&frame(id)).await.unwrap();
        }
        let error = slow.recv().await.unwrap_err();
        assert!(matches!(error, CanError::Lagged { skipped: 3 }));
        assert_eq!(
            error.to_string(),
            "bus receiver fell behind and skipped 3 frames"
        );
        // It goes on with the oldest frames still held.
        assert_eq!(slow.recv().await.unwrap().unwrap().id(), 4);
        assert_eq!(slow.recv().await.unwrap().unwrap().id(), 5);
    }

    #[tokio::test]
    async fn sending_without_receivers_is_fine() {
        let bus = Bus::new(4);
        bus.sender().send(&frame(1)).await.unwrap();
        assert_eq!(bus.receiver_count(), 0);
        let mut late = bus.receiver();
        bus.sender().send(&frame(2)).await.unwrap();
        assert_eq!(late.recv().await.unwrap().unwrap().id(), 2);
    }
}
