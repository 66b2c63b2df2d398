//! A sink that sends each frame to the sink of its channel.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::{CanError, Frame, FrameSink};

/// Routes frames by their channel name to one sink per channel, for example the
/// SocketCAN interface of each bus of a vehicle. A frame for a channel without a sink
/// is an error naming the channel.
#[derive(Default)]
pub struct ChannelRouter {
    sinks: HashMap<String, Box<dyn FrameSink>>,
}

impl std::fmt::Debug for ChannelRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRouter")
            .field("channels", &self.sinks.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ChannelRouter {
    /// An empty router.
    pub fn new() -> ChannelRouter {
        ChannelRouter::default()
    }

    /// Sends frames of `channel` to `sink`.
    pub fn route(mut self, channel: &str, sink: Box<dyn FrameSink>) -> ChannelRouter {
        self.sinks.insert(channel.to_owned(), sink);
        self
    }
}

#[async_trait]
impl FrameSink for ChannelRouter {
    async fn send(&mut self, frame: &Frame) -> Result<(), CanError> {
        match self.sinks.get_mut(&**frame.channel()) {
            Some(sink) => sink.send(frame).await,
            None => Err(CanError::InvalidFrame {
                reason: format!("no sink for channel \"{}\"", frame.channel()),
            }),
        }
    }

    async fn flush(&mut self) -> Result<(), CanError> {
        for sink in self.sinks.values_mut() {
            sink.flush().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bus, FrameSource};

    #[tokio::test]
    async fn frames_go_to_their_channel() {
        let (can0, can1) = (Bus::new(4), Bus::new(4));
        let (mut rx0, mut rx1) = (can0.receiver(), can1.receiver());
        let mut router = ChannelRouter::new()
            .route("can0", Box::new(can0.sender()))
            .route("can1", Box::new(can1.sender()));
        router
            .send(&Frame::new("can1", 0x10, false, &[1]).unwrap())
            .await
            .unwrap();
        router
            .send(&Frame::new("can0", 0x20, false, &[2]).unwrap())
            .await
            .unwrap();
        assert_eq!(rx1.recv().await.unwrap().unwrap().id(), 0x10);
        assert_eq!(rx0.recv().await.unwrap().unwrap().id(), 0x20);
        let error = router
            .send(&Frame::new("can9", 1, false, &[]).unwrap())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("can9"), "{error}");
    }
}
