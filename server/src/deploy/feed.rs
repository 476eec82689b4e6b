//! Tells live viewers (SSE streams) that a request's feed has new rows. The rows themselves
//! are read from SQLite, so a viewer that lags or reconnects misses nothing.

use tokio::sync::broadcast;

#[derive(Clone)]
pub struct Feed {
    sender: broadcast::Sender<i64>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed { sender: broadcast::channel(1024).0 }
    }
}

impl Feed {
    /// Request `request_id` has new events.
    pub fn publish(&self, request_id: i64) {
        // No viewer is not an error.
        let _ = self.sender.send(request_id);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.sender.subscribe()
    }
}
