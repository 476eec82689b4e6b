//! Sign-in throttling: after too many attempts in a window, further attempts for that
//! username (from that client network), or from that client network, are refused (429
//! with Retry-After) without checking the password, so guessing costs the attacker time
//! and the server nothing.
//!
//! An attempt is counted *before* its password is checked and forgiven when it succeeds,
//! so a burst of parallel guesses cannot all pass the check while the first ones are still
//! being verified. The table is bounded: when it is full the key least recently attempted
//! is evicted, never the check skipped.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; past this, keys whose attempts have all expired are forgotten
/// first, then the least recently attempted ones.
const MAX_KEYS: usize = 50_000;

pub struct Throttle {
    limit: usize,
    window: Duration,
    max_keys: usize,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Throttle {
        Self::with_capacity(limit, window, MAX_KEYS)
    }

    fn with_capacity(limit: u32, window: Duration, max_keys: usize) -> Throttle {
        Throttle { limit: limit.max(1) as usize, window, max_keys: max_keys.max(1), attempts: Mutex::default() }
    }

    /// Counts an attempt for `key`, or `Err(seconds to wait)` when it has used up its
    /// attempts in the window (then nothing is counted).
    pub fn reserve(&self, key: &str) -> Result<(), u64> {
        let mut attempts = self.attempts.lock().expect("throttle lock");
        let now = Instant::now();
        if let Some(times) = attempts.get_mut(key) {
            while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                times.pop_front();
            }
            if times.len() >= self.limit {
                let oldest = *times.front().expect("at least `limit` attempts");
                return Err((self.window - now.duration_since(oldest)).as_secs().max(1));
            }
        } else if attempts.len() >= self.max_keys {
            let window = self.window;
            attempts.retain(|_, times| times.back().is_some_and(|t| t.elapsed() < window));
            if attempts.len() >= self.max_keys {
                let stalest = attempts.iter().min_by_key(|(_, times)| times.back().copied()).map(|(k, _)| k.clone());
                if let Some(stalest) = stalest {
                    attempts.remove(&stalest);
                }
            }
        }
        attempts.entry(key.to_string()).or_default().push_back(now);
        Ok(())
    }

    /// Takes back one counted attempt of `key` (it turned out to be a success).
    pub fn forgive(&self, key: &str) {
        let mut attempts = self.attempts.lock().expect("throttle lock");
        if let Some(times) = attempts.get_mut(key) {
            times.pop_back();
            if times.is_empty() {
                attempts.remove(key);
            }
        }
    }

    /// Forgets every attempt of `key` (a successful sign-in ends its cooling down).
    pub fn clear(&self, key: &str) {
        self.attempts.lock().expect("throttle lock").remove(key);
    }
}

/// The key of a client address: IPv4 as it is, IPv6 by its /64 (one subscriber's
/// network hands out countless addresses), an IPv4-mapped IPv6 address as the IPv4.
pub fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_until_the_window_passes() {
        let throttle = Throttle::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(throttle.reserve("alice").is_ok());
        }
        assert!(throttle.reserve("alice").is_err());
        assert!(throttle.reserve("bob").is_ok(), "per key");
        std::thread::sleep(Duration::from_millis(210));
        assert!(throttle.reserve("alice").is_ok());
        throttle.clear("alice");
        for _ in 0..3 {
            assert!(throttle.reserve("alice").is_ok());
        }
        throttle.forgive("alice");
        assert!(throttle.reserve("alice").is_ok(), "a forgiven attempt does not count");
    }

    #[test]
    fn parallel_guesses_cannot_all_pass_the_check() {
        let throttle = std::sync::Arc::new(Throttle::new(5, Duration::from_secs(60)));
        let passed: usize = (0..50)
            .map(|_| {
                let t = throttle.clone();
                std::thread::spawn(move || t.reserve("admin").is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap() as usize)
            .sum();
        assert_eq!(passed, 5);
    }

    #[test]
    fn a_full_table_evicts_instead_of_letting_everyone_through() {
        let throttle = Throttle::with_capacity(1, Duration::from_secs(60), 3);
        for key in ["a", "b", "c"] {
            throttle.reserve(key).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        throttle.reserve("d").unwrap();
        assert!(throttle.reserve("d").is_err(), "the new key is still counted");
        assert!(throttle.reserve("c").is_err(), "recent keys are kept");
        assert!(throttle.reserve("a").is_ok(), "the stalest key was evicted");
    }

    #[test]
    fn ipv6_counts_by_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_key(a), network_key(b));
        assert_ne!(network_key(a), network_key(c));
        assert_eq!(network_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
        assert_eq!(network_key("192.0.2.1".parse().unwrap()), "192.0.2.1");
    }
}
