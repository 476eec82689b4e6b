//! Per-user caps on long-lived reads (event streams, audit exports), so that no one user,
//! or one leaked token, can hold the database pool or the server's connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct Slots {
    /// What the slots are for (`stream`, `export`), as the metrics name it.
    kind: &'static str,
    max: usize,
    used: Mutex<HashMap<String, usize>>,
}

/// One slot in use; given back when dropped (the stream or export ended).
pub struct Slot {
    slots: Arc<Slots>,
    user: String,
}

impl Slots {
    pub fn new(kind: &'static str, max: usize) -> Arc<Slots> {
        Arc::new(Slots { kind, max: max.max(1), used: Mutex::default() })
    }

    /// A slot for `user`, or `None` when they already use every one.
    pub fn take(self: &Arc<Self>, user: &str) -> Option<Slot> {
        let mut used = self.used.lock().expect("slots lock");
        let n = used.entry(user.to_string()).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        metrics::gauge!(crate::metrics::LONG_READS_OPEN, "kind" => self.kind).increment(1.0);
        Some(Slot { slots: self.clone(), user: user.to_string() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::LONG_READS_OPEN, "kind" => self.slots.kind).decrement(1.0);
        let mut used = self.slots.used.lock().expect("slots lock");
        if let Some(n) = used.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                used.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_their_own_slots_given_back_when_done() {
        let slots = Slots::new("test", 2);
        let a = slots.take("alice").unwrap();
        let _b = slots.take("alice").unwrap();
        assert!(slots.take("alice").is_none());
        assert!(slots.take("bob").is_some(), "per user");
        drop(a);
        assert!(slots.take("alice").is_some());
    }
}
