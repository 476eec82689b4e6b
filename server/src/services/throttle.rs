//! Sign-in throttling: after too many failures in a window, further attempts for that
//! username, or from that client address, are refused (429 with Retry-After) without
//! checking the password, so guessing costs the attacker time and the server nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; past this, keys whose failures have all expired are forgotten
/// first, so a flood of made-up usernames cannot grow memory without bound.
const MAX_KEYS: usize = 50_000;

pub struct Throttle {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Throttle {
        Throttle { limit: limit.max(1) as usize, window, failures: Mutex::default() }
    }

    /// `Err(seconds to wait)` when `key` has used up its failures in the window.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let mut failures = self.failures.lock().expect("throttle lock");
        let Some(times) = failures.get_mut(key) else { return Ok(()) };
        let now = Instant::now();
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            times.pop_front();
        }
        if times.len() < self.limit {
            return Ok(());
        }
        let oldest = *times.front().expect("at least `limit` failures");
        Err((self.window - now.duration_since(oldest)).as_secs().max(1))
    }

    pub fn fail(&self, key: &str) {
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() >= MAX_KEYS && !failures.contains_key(key) {
            let window = self.window;
            failures.retain(|_, times| times.back().is_some_and(|t| t.elapsed() < window));
            if failures.len() >= MAX_KEYS {
                return;
            }
        }
        let times = failures.entry(key.to_string()).or_default();
        times.push_back(Instant::now());
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    pub fn clear(&self, key: &str) {
        self.failures.lock().expect("throttle lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_until_the_window_passes() {
        let throttle = Throttle::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(throttle.check("alice").is_ok());
            throttle.fail("alice");
        }
        assert!(throttle.check("alice").is_err());
        assert!(throttle.check("bob").is_ok(), "per key");
        std::thread::sleep(Duration::from_millis(210));
        assert!(throttle.check("alice").is_ok());
        throttle.fail("alice");
        throttle.clear("alice");
        assert!(throttle.check("alice").is_ok());
    }
}
