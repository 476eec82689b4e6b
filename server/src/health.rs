//! Deployed APIs' health, read from AWS by one poller and served from a cache, so the cost
//! in AWS calls does not grow with the number of people looking.
//!
//! A viewer *watches* a service for a short window each time it asks; while watched, the
//! poller reads it every `watched_refresh`, otherwise every `idle_refresh` (which keeps the
//! dashboard roughly current). Reads of one service never overlap: the first viewer of an
//! unknown service waits for one read, and everyone else shares it.

use crate::aws::{AwsError, AwsResult, HealthFacts, ServiceHealth, ServiceRef};
use crate::db::{self, Db};
use app::health::{judge, Health, TaskState, RECENT_STOP_SECONDS};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Unwatched services read per pass of the poller (about one pass a second), at least;
/// more when there are so many that they would not all be read once per idle interval.
const IDLE_PER_PASS: usize = 5;

#[derive(Clone, Debug)]
pub struct Settings {
    pub watched_refresh: Duration,
    pub idle_refresh: Duration,
    /// How long one look keeps a service watched; viewers ask again well within it.
    pub watch_window: Duration,
    /// How often the poller wakes to see what is due.
    pub tick: Duration,
}

impl Settings {
    pub fn new(watched_refresh: Duration, idle_refresh: Duration) -> Self {
        Settings { watched_refresh, idle_refresh, watch_window: (watched_refresh * 4).max(Duration::from_secs(20)), tick: (watched_refresh / 5).clamp(Duration::from_millis(100), Duration::from_secs(1)) }
    }
}

struct Entry {
    service: ServiceRef,
    health: Option<Health>,
    /// The last read's error, when no read ever succeeded: viewers get it until the next
    /// read is due instead of each sending AWS a call that will likely fail again.
    failed: Option<AwsError>,
    fetched: Option<Instant>,
    watched_until: Option<Instant>,
}

/// What the dashboard shows of one API's health besides the verdict.
pub struct Brief {
    pub summary: String,
    pub fetched_at: String,
}

pub struct Monitor {
    source: Arc<dyn ServiceHealth>,
    settings: Settings,
    entries: Mutex<HashMap<i64, Entry>>,
    /// One lock per service: a read in flight makes the others wait for its answer.
    flights: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Monitor {
    pub fn new(source: Arc<dyn ServiceHealth>, settings: Settings) -> Arc<Monitor> {
        Arc::new(Monitor { source, settings, entries: Mutex::default(), flights: Mutex::default() })
    }

    /// A viewer looks at a service: it is watched for the next window, and the answer comes
    /// from the cache. It is read from AWS now only if it never was, or if nobody watched
    /// it lately (its facts are as old as the idle interval), so the first look is current.
    pub async fn watch(&self, id: i64, service: ServiceRef) -> AwsResult<Health> {
        {
            let mut entries = self.entries.lock().expect("health cache lock");
            let entry = entry(&mut entries, id, &service);
            entry.watched_until = Some(Instant::now() + self.settings.watch_window);
            let recent = entry.fetched.is_some_and(|at| at.elapsed() < self.settings.watched_refresh * 2);
            if let (Some(health), true) = (&entry.health, recent) {
                return Ok(health.clone());
            }
            if let (Some(error), Some(at)) = (&entry.failed, entry.fetched) {
                if at.elapsed() < self.settings.watched_refresh {
                    return Err(error.clone());
                }
            }
        }
        self.refresh(id, &service, Some(self.settings.watched_refresh)).await
    }

    /// What is known, without asking AWS or counting as a look.
    pub fn cached(&self, id: i64) -> Option<Health> {
        self.entries.lock().expect("health cache lock").get(&id).and_then(|e| e.health.clone())
    }

    /// The verdict of every API read so far, in one look at the cache (the dashboard's order).
    pub fn verdicts(&self) -> HashMap<i64, app::health::Verdict> {
        let entries = self.entries.lock().expect("health cache lock");
        entries.iter().filter_map(|(id, e)| Some((*id, e.health.as_ref()?.verdict))).collect()
    }

    /// What the dashboard shows of these APIs (one page of it), in one look at the cache.
    pub fn briefs(&self, ids: &[i64]) -> HashMap<i64, Brief> {
        let entries = self.entries.lock().expect("health cache lock");
        ids.iter()
            .filter_map(|id| {
                let h = entries.get(id)?.health.as_ref()?;
                Some((*id, Brief { summary: h.summary.clone(), fetched_at: h.fetched_at.clone() }))
            })
            .collect()
    }

    /// Reads a service from AWS unless a read that finished within `fresh_for` (or, with
    /// `None`, any read) happened while this one waited for its turn.
    async fn refresh(&self, id: i64, service: &ServiceRef, fresh_for: Option<Duration>) -> AwsResult<Health> {
        let flight = self.flights.lock().expect("flight lock").entry(id).or_default().clone();
        let _turn = flight.lock().await;
        {
            let entries = self.entries.lock().expect("health cache lock");
            if let Some(Entry { health: Some(health), fetched: Some(at), service: known, .. }) = entries.get(&id) {
                let fresh = fresh_for.is_none_or(|window| at.elapsed() < window);
                if fresh && known == service {
                    return Ok(health.clone());
                }
            }
        }
        let result = self.source.health(service).await;
        let mut entries = self.entries.lock().expect("health cache lock");
        let entry = entry(&mut entries, id, service);
        entry.fetched = Some(Instant::now());
        match result {
            Ok(facts) => {
                let health = assess(facts, &db::now());
                entry.health = Some(health.clone());
                entry.failed = None;
                Ok(health)
            }
            Err(e) => {
                tracing::warn!("reading the health of {}/{} in {}: {e}", service.cluster, service.service, service.location.region);
                // The last facts stay on show, marked with why they are not newer.
                match &mut entry.health {
                    Some(health) => {
                        health.error = Some(e.to_string());
                        Ok(health.clone())
                    }
                    None => {
                        entry.failed = Some(e.clone());
                        Err(e)
                    }
                }
            }
        }
    }

    /// How long ago the longest-unread of the services someone is watching was read (the
    /// poller's lag); `None` when nobody watches any.
    pub fn oldest_watched(&self) -> Option<Duration> {
        let entries = self.entries.lock().expect("health cache lock");
        let now = Instant::now();
        entries
            .values()
            .filter(|e| e.watched_until.is_some_and(|until| until > now))
            .map(|e| e.fetched.map_or(Duration::ZERO, |at| now.duration_since(at)))
            .max()
    }

    /// One pass of the poller over the deployed services: reads what is due, forgets what
    /// is no longer deployed. Watched services come first, and at most `IDLE_PER_PASS`
    /// others are read per pass: a thousand unwatched APIs are read a few at a time, never
    /// in a burst that would keep a watched one waiting or get Berth throttled.
    pub async fn poll(&self, services: &[(i64, ServiceRef)]) {
        let due: Vec<(i64, ServiceRef)> = {
            let mut entries = self.entries.lock().expect("health cache lock");
            let live: std::collections::HashSet<i64> = services.iter().map(|(id, _)| *id).collect();
            entries.retain(|id, _| live.contains(id));
            let now = Instant::now();
            let mut watched = Vec::new();
            let mut idle = Vec::new();
            for (id, service) in services {
                let entry = entry(&mut entries, *id, service);
                let is_watched = entry.watched_until.is_some_and(|until| until > now);
                let every = if is_watched { self.settings.watched_refresh } else { self.settings.idle_refresh };
                if entry.fetched.is_none_or(|at| now.duration_since(at) >= every) {
                    let queue = if is_watched { &mut watched } else { &mut idle };
                    queue.push((*id, service.clone(), entry.fetched));
                }
            }
            // The idle ones read longest ago (or never) first.
            idle.sort_by_key(|(_, _, fetched)| *fetched);
            // Enough per pass to get round all of them once per idle interval, spread evenly.
            let passes = (self.settings.idle_refresh.as_secs_f64() / self.settings.tick.as_secs_f64()).max(1.0);
            let per_pass = IDLE_PER_PASS.max((services.len() as f64 / passes).ceil() as usize + 1);
            watched.into_iter().chain(idle.into_iter().take(per_pass)).map(|(id, service, _)| (id, service)).collect()
        };
        for (id, service) in due {
            // Errors are logged and kept with the cached facts; the next pass tries again.
            let _ = self.refresh(id, &service, Some(self.settings.watched_refresh / 2)).await;
        }
    }

    /// Runs the poller for as long as the server does.
    pub fn start(self: &Arc<Self>, db: Db) {
        let monitor = self.clone();
        tokio::spawn(async move {
            loop {
                match db::requests::live_services(&db).await {
                    Ok(rows) => {
                        let services: Vec<(i64, ServiceRef)> = rows.into_iter().filter_map(|r| r.service_ref()).collect();
                        monitor.poll(&services).await;
                    }
                    Err(e) => tracing::warn!("listing deployed services for health: {e}"),
                }
                tokio::time::sleep(monitor.settings.tick).await;
            }
        });
    }
}

fn entry<'a>(entries: &'a mut HashMap<i64, Entry>, id: i64, service: &ServiceRef) -> &'a mut Entry {
    let entry = entries.entry(id).or_insert_with(|| Entry { service: service.clone(), health: None, failed: None, fetched: None, watched_until: None });
    if &entry.service != service {
        // Redeployed elsewhere (another cluster or target group): what we knew is moot.
        *entry = Entry { service: service.clone(), health: None, failed: None, fetched: None, watched_until: entry.watched_until };
    }
    entry
}

/// The facts with Berth's verdict on them.
pub fn assess(facts: HealthFacts, now: &str) -> Health {
    let crashes = facts.tasks.iter().filter(|t| crashed_recently(t)).count();
    let (verdict, summary) = judge(&facts.service, &facts.tasks, &facts.targets, crashes);
    Health { service: facts.service, tasks: facts.tasks, events: facts.events, targets: facts.targets, fetched_at: now.to_string(), verdict, summary, error: None }
}

/// Stopped on its own (a container exited non-zero, or the task never started) within the
/// recent window; tasks replaced by a deployment or scaled in stop with exit code 0 or none.
fn crashed_recently(task: &TaskState) -> bool {
    let Some(stopped) = &task.stopped_at else { return false };
    let failed = task.stop_code.as_deref() == Some("TaskFailedToStart") || task.containers.iter().any(|c| c.exit_code.is_some_and(|code| code != 0));
    failed && db::seconds_since(stopped) <= RECENT_STOP_SECONDS
}

impl From<AwsError> for app::error::AppError {
    fn from(e: AwsError) -> Self {
        app::error::AppError::Unavailable(format!("AWS did not answer: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::health::{ServiceState, TargetState, Verdict};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        calls: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl ServiceHealth for Counting {
        async fn health(&self, _: &ServiceRef) -> AwsResult<HealthFacts> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.fail.load(Ordering::SeqCst) {
                return Err(AwsError::new("Throttling", "Rate exceeded"));
            }
            Ok(HealthFacts {
                service: ServiceState { status: "ACTIVE".into(), desired: 1, running: 1, pending: 0, rollout_state: Some("COMPLETED".into()), deployments: vec![] },
                tasks: vec![],
                events: vec![],
                targets: vec![TargetState { id: "i-1".into(), port: Some(80), state: "healthy".into(), reason: None, description: None }],
            })
        }
    }

    fn service() -> ServiceRef {
        ServiceRef { location: crate::aws::Location::new("us-east-1", None, None), cluster: "c".into(), service: "s".into(), target_group: Some("tg".into()) }
    }

    fn monitor(watched: u64, idle: u64) -> (Arc<Counting>, Arc<Monitor>) {
        let source = Arc::new(Counting { calls: AtomicUsize::new(0), fail: Default::default() });
        let settings = Settings { watched_refresh: Duration::from_millis(watched), idle_refresh: Duration::from_millis(idle), watch_window: Duration::from_secs(5), tick: Duration::from_millis(10) };
        (source.clone(), Monitor::new(source, settings))
    }

    #[tokio::test]
    async fn many_viewers_cost_one_read() {
        let (source, monitor) = monitor(1000, 60_000);
        let looks = (0..50).map(|_| {
            let monitor = monitor.clone();
            tokio::spawn(async move { monitor.watch(1, service()).await })
        });
        for look in futures::future::join_all(looks).await {
            assert_eq!(look.unwrap().unwrap().verdict, Verdict::Healthy);
        }
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
        // The poller does not read again before the refresh interval, however many look.
        monitor.poll(&[(1, service())]).await;
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_first_look_after_a_quiet_while_is_read_afresh() {
        let (source, monitor) = monitor(30, 60_000);
        monitor.watch(1, service()).await.unwrap();
        monitor.watch(1, service()).await.unwrap();
        assert_eq!(source.calls.load(Ordering::SeqCst), 1, "a second look at once comes from the cache");
        tokio::time::sleep(Duration::from_millis(70)).await;
        monitor.watch(1, service()).await.unwrap();
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "facts older than two refresh intervals are read again");
    }

    #[tokio::test]
    async fn watched_services_are_read_often_and_others_rarely() {
        let (source, monitor) = monitor(50, 60_000);
        let services = [(1, service()), (2, ServiceRef { service: "other".into(), ..service() })];
        monitor.poll(&services).await;
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "the first pass reads everything once");
        monitor.watch(1, service()).await.unwrap();
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            monitor.poll(&services).await;
        }
        // Service 1 (watched) was read on each pass; service 2 not again.
        assert_eq!(source.calls.load(Ordering::SeqCst), 2 + 5);
    }

    #[tokio::test]
    async fn a_crowd_of_unwatched_services_is_read_a_few_at_a_time_after_the_watched_ones() {
        let (source, monitor) = monitor(50, 60_000);
        let services: Vec<(i64, ServiceRef)> = (0..20).map(|i| (i, ServiceRef { service: format!("s{i}"), ..service() })).collect();
        monitor.watch(19, services[19].1.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        source.calls.store(0, Ordering::SeqCst);
        monitor.poll(&services).await;
        assert_eq!(source.calls.load(Ordering::SeqCst), 1 + IDLE_PER_PASS, "the watched one and a few others");
        assert!(monitor.cached(19).is_some());
        for _ in 0..4 {
            monitor.poll(&services).await;
        }
        assert!((0..19).all(|i| monitor.cached(i).is_some()), "every service is read within a few passes");
    }

    #[tokio::test]
    async fn a_failed_read_keeps_the_last_facts_and_says_why() {
        let (source, monitor) = monitor(10, 10);
        assert!(monitor.watch(1, service()).await.unwrap().error.is_none());
        source.fail.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        monitor.poll(&[(1, service())]).await;
        let cached = monitor.cached(1).unwrap();
        assert_eq!(cached.verdict, Verdict::Healthy);
        assert!(cached.error.unwrap().contains("Rate exceeded"));
        // Never read successfully: the viewer gets the error, and the next viewers get the
        // same answer without another call until a read is due.
        let before = source.calls.load(Ordering::SeqCst);
        assert!(monitor.watch(9, service()).await.is_err());
        assert!(monitor.watch(9, service()).await.is_err());
        assert_eq!(source.calls.load(Ordering::SeqCst), before + 1);
        // No longer deployed: forgotten.
        monitor.poll(&[]).await;
        assert!(monitor.cached(1).is_none());
    }
}
