//! What an environment and an API are estimated to cost a month, shown before anyone
//! approves them. Pure arithmetic on a price table kept in the repository, shared with the
//! browser, so the request form's live preview and the approver's view show the same figures.
//!
//! - `amounts`: money and quantities as integer millionths, and how they are shown.
//! - `table`: the shape of the price table and its look-up by region.
//! - `prices`: the table itself, written by `scripts/refresh-prices` (its source and date
//!   are [`SOURCE`] and [`AS_OF`]).
//!
//! **The environment** is what its cluster stack runs whatever its APIs do: its hosts at
//! their desired count, their root volumes, the two NAT gateways, the load balancer and the
//! public IPv4 addresses AWS charges for. The cluster stack makes no log group of its own.
//!
//! **An API** is charged its share of the hosts (and of their root volumes) and what its
//! traffic adds: its logs, the NAT gateways' processing of them, and load balancer capacity.
//! The host share is the environment's cost divided up, not an extra charge while the hosts
//! have room ([`Charge::ShareOfEnvironment`]); [`MonthlyEstimate::added`] leaves it out.
//!
//! The constants below are the assumptions; [`NOT_COUNTED`] lists what no figure includes.

mod amounts;
mod prices;
mod table;

pub use amounts::{Money, Quantity};
pub use table::{priced_regions, prices_for, RegionPrices, AS_OF, SOURCE};

use crate::instance_types::{self, InstanceType};
use crate::model::{ClusterParameters, RequestInput};
use std::fmt;

/// AWS prices hourly resources over a month of 730 hours (365 × 24 / 12).
pub const HOURS_PER_MONTH: u32 = 730;
/// cluster.yaml runs a NAT gateway in each of its two Availability Zones.
pub const NAT_GATEWAYS: u32 = 2;
/// Each host's root volume, gp3 (cluster.yaml's launch template).
pub const ROOT_VOLUME_GB: u32 = 30;
/// The auto scaling group's `MinSize` in cluster.yaml: managed scaling may go down to it.
pub const HOSTS_MIN: u32 = 1;
/// Public IPv4 addresses are charged by the hour: the NAT gateways' Elastic IPs, and one
/// per Availability Zone for the internet-facing load balancer (more under heavy load).
pub const PUBLIC_IPV4_ADDRESSES: u32 = NAT_GATEWAYS + 2;
/// Assumed: each task writes 1 GB of logs a month (its requests' and the load balancer's
/// health checks' lines). The real figure depends wholly on the application.
pub const LOG_GB_PER_TASK: u32 = 1;
/// service.yaml keeps an API's logs this long, so about one month's logs are stored at
/// any time.
pub const LOG_RETENTION_DAYS: u32 = 30;
/// Assumed: an API's traffic takes a tenth of a load balancer capacity unit on average
/// (an LCU is 25 new connections a second, 3,000 active connections, 1 GB an hour or
/// 1,000 rule evaluations a second, whichever is most): light traffic.
pub const API_LCU_TENTHS: u32 = 1;

/// What no estimate includes, for the note beside it.
pub const NOT_COUNTED: &[&str] = &[
    "data transfer out to the internet (the APIs' responses)",
    "the APIs' own outbound calls through the NAT gateways (only their logs are counted)",
    "Container Insights metrics (CloudWatch custom metrics)",
    "the load balancer's access logs in S3",
    "container images in ECR, and secrets in Secrets Manager or Parameter Store",
    "free tiers, savings plans, reserved instances, discounts and taxes",
];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EstimateError {
    #[error("no prices for region {0}")]
    NoPrices(String),
    #[error("no price for instance type {0}")]
    NoInstancePrice(String),
}

/// A line of an estimate; each appears at most once in one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Hosts,
    RootVolumes,
    NatGateways,
    LoadBalancer,
    PublicIpv4,
    LoadBalancerCapacity,
    LogIngestion,
    LogStorage,
    NatDataProcessing,
}

impl Item {
    pub const ALL: [Item; 9] = [
        Item::Hosts,
        Item::RootVolumes,
        Item::NatGateways,
        Item::LoadBalancer,
        Item::PublicIpv4,
        Item::LoadBalancerCapacity,
        Item::LogIngestion,
        Item::LogStorage,
        Item::NatDataProcessing,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Item::Hosts => "EC2 hosts (on demand)",
            Item::RootVolumes => "Host root volumes (EBS gp3)",
            Item::NatGateways => "NAT gateways",
            Item::LoadBalancer => "Application Load Balancer",
            Item::PublicIpv4 => "Public IPv4 addresses",
            Item::LoadBalancerCapacity => "Load balancer capacity units (LCU)",
            Item::LogIngestion => "CloudWatch Logs ingestion",
            Item::LogStorage => "CloudWatch Logs storage",
            Item::NatDataProcessing => "NAT gateway data processing",
        }
    }

    /// What one unit of the item's quantity is; hourly things are priced by the month.
    pub fn unit(self) -> &'static str {
        match self {
            Item::Hosts => "host-month",
            Item::RootVolumes | Item::LogStorage => "GB-month",
            Item::NatGateways => "gateway-month",
            Item::LoadBalancer => "load balancer-month",
            Item::PublicIpv4 => "address-month",
            Item::LoadBalancerCapacity => "LCU-month",
            Item::LogIngestion | Item::NatDataProcessing => "GB",
        }
    }
}

/// Whether a line costs money of its own or divides up what the environment already pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    Own,
    /// Part of the environment's cost, apportioned to the API: it adds to the bill only
    /// once the hosts are full and managed scaling starts another.
    ShareOfEnvironment,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineItem {
    pub item: Item,
    pub charge: Charge,
    pub quantity: Quantity,
    /// Per [`Item::unit`].
    pub unit_price: Money,
    pub monthly: Money,
    /// How the quantity was arrived at, in words, for the approver.
    pub basis: String,
}

impl LineItem {
    fn new(item: Item, charge: Charge, quantity: Quantity, unit_price: Money, basis: String) -> LineItem {
        LineItem { item, charge, quantity, unit_price, monthly: unit_price.times(quantity), basis }
    }
}

/// What runs more or less of itself: hosts under managed scaling, tasks under auto scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    Hosts,
    Tasks,
}

impl Counted {
    fn word(self, n: u32) -> &'static str {
        match (self, n) {
            (Counted::Hosts, 1) => "host",
            (Counted::Hosts, _) => "hosts",
            (Counted::Tasks, 1) => "task",
            (Counted::Tasks, _) => "tasks",
        }
    }
}

/// The totals at the fewest and the most of what scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalingRange {
    pub counted: Counted,
    pub fewest: u32,
    pub most: u32,
    pub low: Money,
    pub high: Money,
}

impl fmt::Display for ScalingRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {} / month with {} to {} {} (estimate)",
            self.low.rounded(),
            self.high.rounded(),
            self.fewest,
            self.most,
            self.counted.word(self.most)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthlyEstimate {
    pub items: Vec<LineItem>,
    /// At the count the stack starts with: the environment's desired capacity, the API's
    /// desired count.
    pub total: Money,
    /// When hosts or tasks scale by themselves, the totals at the fewest and the most.
    pub scaling: Option<ScalingRange>,
}

impl MonthlyEstimate {
    fn new(items: Vec<LineItem>, scaling: Option<ScalingRange>) -> MonthlyEstimate {
        MonthlyEstimate { total: items.iter().map(|i| i.monthly).sum(), items, scaling }
    }

    /// What the lines that cost money of their own add up to.
    pub fn added(&self) -> Money {
        self.items.iter().filter(|i| i.charge == Charge::Own).map(|i| i.monthly).sum()
    }

    pub fn amount_of(&self, item: Item) -> Money {
        self.items.iter().filter(|i| i.item == item).map(|i| i.monthly).sum()
    }
}

/// `about $162 / month (estimate)`.
impl fmt::Display for MonthlyEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / month (estimate)", about(self.total))
    }
}

/// What a revision changes: the totals before and after, and each line that moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub before: Money,
    pub after: Money,
    pub changes: Vec<ItemChange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemChange {
    pub item: Item,
    pub before: Money,
    pub after: Money,
}

impl Difference {
    /// More (positive) or less (negative) a month.
    pub fn change(&self) -> Money {
        self.after - self.before
    }
}

/// `about $12 / month more (estimate)`, `… less …`, or that it changes nothing.
impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let change = self.change();
        let direction = match change.micros().signum() {
            0 => return f.write_str("no change to the estimate"),
            1 => "more",
            _ => "less",
        };
        write!(f, "{} / month {direction} (estimate)", about(change.abs()))
    }
}

/// "about $73", or "under $0.01" where "about" would round to nothing.
fn about(amount: Money) -> String {
    let rounded = amount.rounded();
    if rounded.starts_with("under") { rounded } else { format!("about {rounded}") }
}

/// How much of one host a task takes: the larger of its share of the host's CPU units and
/// of the memory ECS may place on it. Whichever of the two runs out first stops ECS placing
/// more tasks on the host, so that is the part of the host the task keeps from others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostShare {
    pub resource: Resource,
    /// CPU units or MiB the task reserves…
    pub reserved: u32,
    /// …of what one host offers.
    pub per_host: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
}

impl HostShare {
    pub fn of_task(instance: &InstanceType, cpu: u32, memory: u32) -> HostShare {
        let (cpu_units, memory_mib) = (instance.cpu_units(), instance.usable_memory_mib());
        // memory / memory_mib > cpu / cpu_units, without dividing.
        if u64::from(memory) * u64::from(cpu_units) > u64::from(cpu) * u64::from(memory_mib) {
            HostShare { resource: Resource::Memory, reserved: memory, per_host: memory_mib }
        } else {
            HostShare { resource: Resource::Cpu, reserved: cpu, per_host: cpu_units }
        }
    }

    /// `tasks` such shares of something every host has `per_host` units of.
    fn of(&self, tasks: u32, per_host: u32) -> Quantity {
        let taken = u128::from(tasks) * u128::from(self.reserved) * u128::from(per_host);
        Quantity::ratio(taken, u128::from(self.per_host))
    }

    fn describe(&self) -> String {
        let share = Quantity::ratio(u128::from(self.reserved), u128::from(self.per_host));
        match self.resource {
            Resource::Cpu => format!("{share} of a host each: {} of its {} CPU units", self.reserved, self.per_host),
            Resource::Memory => format!("{share} of a host each: {} of the {} MiB ECS may place on it", self.reserved, self.per_host),
        }
    }
}

/// The environment: its fixed resources, and its hosts at their desired capacity; with
/// the range from the auto scaling group's minimum to its maximum, since managed scaling
/// moves between them as tasks need room.
pub fn environment_estimate(region: &str, cluster: &ClusterParameters) -> Result<MonthlyEstimate, EstimateError> {
    environment(prices_for(region)?, cluster)
}

/// The API's share: its tasks at their desired count (where auto scaling starts, and what
/// runs without it), with the range from the scaling minimum to its maximum when it scales.
/// A deployment's extra tasks run for minutes and are left out.
pub fn api_estimate(region: &str, cluster: &ClusterParameters, input: &RequestInput) -> Result<MonthlyEstimate, EstimateError> {
    api(prices_for(region)?, cluster, input)
}

/// What a revision of an API (or a change of an environment) makes of its estimate: pass
/// the estimates of what is deployed and of the revision.
pub fn revision_difference(before: &MonthlyEstimate, after: &MonthlyEstimate) -> Difference {
    let changes = Item::ALL
        .into_iter()
        .map(|item| ItemChange { item, before: before.amount_of(item), after: after.amount_of(item) })
        .filter(|c| c.before != c.after)
        .collect();
    Difference { before: before.total, after: after.total, changes }
}

fn monthly(hourly: Money) -> Money {
    hourly.times(Quantity::whole(HOURS_PER_MONTH))
}

fn instance_hourly(prices: &RegionPrices, instance_type: &str) -> Result<Money, EstimateError> {
    prices.instance_hourly(instance_type).ok_or_else(|| EstimateError::NoInstancePrice(instance_type.to_string()))
}

fn range(counted: Counted, fewest: u32, most: u32, total_at: impl Fn(u32) -> Money) -> Option<ScalingRange> {
    (fewest < most).then(|| ScalingRange { counted, fewest, most, low: total_at(fewest), high: total_at(most) })
}

fn environment(prices: &RegionPrices, cluster: &ClusterParameters) -> Result<MonthlyEstimate, EstimateError> {
    let hourly = instance_hourly(prices, &cluster.instance_type)?;
    let at = |hosts: u32| environment_items(prices, &cluster.instance_type, hourly, hosts);
    let desired = cluster.desired_capacity;
    let scaling = range(Counted::Hosts, HOSTS_MIN.min(desired), cluster.max_size.max(desired), |n| {
        MonthlyEstimate::new(at(n), None).total
    });
    Ok(MonthlyEstimate::new(at(desired), scaling))
}

fn environment_items(prices: &RegionPrices, instance_type: &str, hourly: Money, hosts: u32) -> Vec<LineItem> {
    let own = Charge::Own;
    vec![
        LineItem::new(
            Item::Hosts,
            own,
            Quantity::whole(hosts),
            monthly(hourly),
            format!("{hosts} × {instance_type} at {} an hour, {HOURS_PER_MONTH} hours a month", hourly.precise()),
        ),
        LineItem::new(
            Item::RootVolumes,
            own,
            Quantity::whole(hosts.saturating_mul(ROOT_VOLUME_GB)),
            prices.gp3_per_gb_month,
            format!("{ROOT_VOLUME_GB} GB per host"),
        ),
        LineItem::new(
            Item::NatGateways,
            own,
            Quantity::whole(NAT_GATEWAYS),
            monthly(prices.nat_gateway_hourly),
            format!("one per Availability Zone at {} an hour", prices.nat_gateway_hourly.precise()),
        ),
        LineItem::new(
            Item::LoadBalancer,
            own,
            Quantity::whole(1),
            monthly(prices.load_balancer_hourly),
            format!(
                "at {} an hour; the capacity units it bills are counted with each API's traffic",
                prices.load_balancer_hourly.precise()
            ),
        ),
        LineItem::new(
            Item::PublicIpv4,
            own,
            Quantity::whole(PUBLIC_IPV4_ADDRESSES),
            monthly(prices.public_ipv4_hourly),
            format!(
                "the NAT gateways' {NAT_GATEWAYS} Elastic IPs and the load balancer's {} at {} an hour each",
                PUBLIC_IPV4_ADDRESSES - NAT_GATEWAYS,
                prices.public_ipv4_hourly.precise()
            ),
        ),
    ]
}

fn api(prices: &RegionPrices, cluster: &ClusterParameters, input: &RequestInput) -> Result<MonthlyEstimate, EstimateError> {
    let hourly = instance_hourly(prices, &cluster.instance_type)?;
    let instance = instance_types::find(&cluster.instance_type)
        .ok_or_else(|| EstimateError::NoInstancePrice(cluster.instance_type.clone()))?;
    let share = HostShare::of_task(instance, input.cpu, input.memory);
    let at = |tasks: u32| api_items(prices, instance, hourly, &share, tasks);
    let scaling = input.autoscaling.as_ref().and_then(|s| {
        range(Counted::Tasks, s.min, s.max, |n| MonthlyEstimate::new(at(n), None).total)
    });
    Ok(MonthlyEstimate::new(at(input.desired_count), scaling))
}

fn api_items(prices: &RegionPrices, instance: &InstanceType, hourly: Money, share: &HostShare, tasks: u32) -> Vec<LineItem> {
    let tasks_word = Counted::Tasks.word(tasks);
    let logged = u128::from(tasks) * u128::from(LOG_GB_PER_TASK);
    let logs = Quantity::ratio(logged, 1);
    // Logs kept for the retention period, over a month of HOURS_PER_MONTH.
    let stored = Quantity::ratio(logged * u128::from(LOG_RETENTION_DAYS * 24), u128::from(HOURS_PER_MONTH));
    vec![
        LineItem::new(
            Item::Hosts,
            Charge::ShareOfEnvironment,
            share.of(tasks, 1),
            monthly(hourly),
            format!(
                "{tasks} {tasks_word} × {} ({}): whichever runs out first stops ECS placing tasks on a host",
                share.describe(),
                instance.name
            ),
        ),
        LineItem::new(
            Item::RootVolumes,
            Charge::ShareOfEnvironment,
            share.of(tasks, ROOT_VOLUME_GB),
            prices.gp3_per_gb_month,
            format!("the same share of the hosts' {ROOT_VOLUME_GB} GB root volumes"),
        ),
        LineItem::new(
            Item::LogIngestion,
            Charge::Own,
            logs,
            prices.log_ingestion_per_gb,
            format!("assumed {LOG_GB_PER_TASK} GB of logs per task a month"),
        ),
        LineItem::new(
            Item::LogStorage,
            Charge::Own,
            stored,
            prices.log_storage_per_gb_month,
            format!("{LOG_RETENTION_DAYS} days of logs kept; AWS bills them compressed, so this is an upper bound"),
        ),
        LineItem::new(
            Item::NatDataProcessing,
            Charge::Own,
            logs,
            prices.nat_gateway_per_gb,
            "the logs leave through a NAT gateway (the network has no endpoint for CloudWatch Logs)".into(),
        ),
        LineItem::new(
            Item::LoadBalancerCapacity,
            Charge::Own,
            Quantity::ratio(u128::from(API_LCU_TENTHS), 10),
            monthly(prices.lcu_hourly),
            format!(
                "assumed light traffic at {} an LCU-hour; its listener rule adds nothing of its own at that traffic, \
                 since the first 10 rules a request meets are free and the rest count 1 LCU per 1,000 evaluations a second",
                prices.lcu_hourly.precise()
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AutoScaling;

    /// us-east-1's prices as AWS listed them: the hand-computed figures below are worked
    /// out from these, so a refresh of the table does not change them.
    const PRICES: RegionPrices = RegionPrices {
        region: "us-east-1",
        instance_hourly: &[("t3.medium", Money::from_micros(41_600)), ("m5.large", Money::from_micros(96_000))],
        nat_gateway_hourly: Money::from_micros(45_000),
        nat_gateway_per_gb: Money::from_micros(45_000),
        load_balancer_hourly: Money::from_micros(22_500),
        lcu_hourly: Money::from_micros(8_000),
        public_ipv4_hourly: Money::from_micros(5_000),
        log_ingestion_per_gb: Money::from_micros(500_000),
        log_storage_per_gb_month: Money::from_micros(30_000),
        gp3_per_gb_month: Money::from_micros(80_000),
    };

    fn cluster() -> ClusterParameters {
        ClusterParameters { instance_type: "t3.medium".into(), desired_capacity: 2, max_size: 4, ..Default::default() }
    }

    fn request(cpu: u32, memory: u32, desired_count: u32) -> RequestInput {
        RequestInput { environment: "staging".into(), service_name: "orders".into(), cpu, memory, desired_count, ..Default::default() }
    }

    fn dollars(micros: i64) -> Money {
        Money::from_micros(micros)
    }

    fn line(estimate: &MonthlyEstimate, item: Item) -> &LineItem {
        estimate.items.iter().find(|i| i.item == item).unwrap_or_else(|| panic!("no {item:?} in {estimate:?}"))
    }

    #[test]
    fn the_environment_of_two_t3_medium_hosts_in_us_east_1() {
        let estimate = environment(&PRICES, &cluster()).unwrap();
        // 2 hosts × $0.0416 × 730 h = $60.736
        assert_eq!(line(&estimate, Item::Hosts).monthly, dollars(60_736_000));
        // 2 × 30 GB × $0.08 = $4.80
        assert_eq!(line(&estimate, Item::RootVolumes).monthly, dollars(4_800_000));
        // 2 NAT gateways × $0.045 × 730 h = $65.70
        assert_eq!(line(&estimate, Item::NatGateways).monthly, dollars(65_700_000));
        // $0.0225 × 730 h = $16.425
        assert_eq!(line(&estimate, Item::LoadBalancer).monthly, dollars(16_425_000));
        // 4 addresses × $0.005 × 730 h = $14.60
        assert_eq!(line(&estimate, Item::PublicIpv4).monthly, dollars(14_600_000));
        assert_eq!(estimate.total, dollars(162_261_000));
        assert_eq!(estimate.added(), estimate.total, "all of it is the environment's own");
        assert_eq!(estimate.to_string(), "about $162 / month (estimate)");
        // One host: 162.261 − 30.368 − 2.40; four: 162.261 + 60.736 + 4.80.
        let scaling = estimate.scaling.expect("managed scaling moves between 1 and 4 hosts");
        assert_eq!((scaling.fewest, scaling.most), (1, 4));
        assert_eq!((scaling.low, scaling.high), (dollars(129_493_000), dollars(227_797_000)));
        assert_eq!(scaling.to_string(), "$129 to $228 / month with 1 to 4 hosts (estimate)");
    }

    #[test]
    fn an_environment_that_cannot_scale_has_no_range() {
        let single = ClusterParameters { desired_capacity: 1, max_size: 1, ..cluster() };
        assert_eq!(environment(&PRICES, &single).unwrap().scaling, None);
    }

    #[test]
    fn a_cpu_bound_api_pays_for_its_share_of_the_hosts_cpu() {
        // 1024 of a t3.medium's 2048 CPU units, 512 of its 3840 MiB: half a host a task.
        let estimate = api(&PRICES, &cluster(), &request(1024, 512, 2)).unwrap();
        let t3_medium = instance_types::find("t3.medium").unwrap();
        assert_eq!(HostShare::of_task(t3_medium, 1024, 512).resource, Resource::Cpu);
        let hosts = line(&estimate, Item::Hosts);
        assert_eq!(hosts.quantity, Quantity::whole(1));
        assert_eq!(hosts.monthly, dollars(30_368_000));
        assert_eq!(hosts.charge, Charge::ShareOfEnvironment);
        assert!(hosts.basis.contains("1024 of its 2048 CPU units"), "{}", hosts.basis);
        assert_eq!(line(&estimate, Item::RootVolumes).monthly, dollars(2_400_000), "30 GB × $0.08");
    }

    #[test]
    fn a_memory_bound_api_pays_for_its_share_of_the_hosts_memory() {
        // 256 of 2048 CPU units is an eighth; 512 of 3840 MiB is more, 2/15 of a host.
        let estimate = api(&PRICES, &cluster(), &request(256, 512, 2)).unwrap();
        let t3_medium = instance_types::find("t3.medium").unwrap();
        assert_eq!(HostShare::of_task(t3_medium, 256, 512).resource, Resource::Memory);
        let hosts = line(&estimate, Item::Hosts);
        assert_eq!(hosts.quantity, Quantity::ratio(4, 15));
        // 0.266667 × $30.368
        assert_eq!(hosts.monthly, dollars(8_098_143));
        // 2 × 512 / 3840 × 30 GB = 8 GB × $0.08
        assert_eq!(line(&estimate, Item::RootVolumes).monthly, dollars(640_000));
        // 2 GB × $0.50; 2 GB × 720/730 × $0.03; 2 GB × $0.045; 0.1 LCU × 730 h × $0.008
        assert_eq!(line(&estimate, Item::LogIngestion).monthly, dollars(1_000_000));
        assert_eq!(line(&estimate, Item::LogStorage).monthly, dollars(59_178));
        assert_eq!(line(&estimate, Item::NatDataProcessing).monthly, dollars(90_000));
        assert_eq!(line(&estimate, Item::LoadBalancerCapacity).monthly, dollars(584_000));
        assert_eq!(estimate.added(), dollars(1_733_178));
        assert_eq!(estimate.total, dollars(10_471_321));
        assert_eq!(estimate.to_string(), "about $10 / month (estimate)");
        assert_eq!(estimate.scaling, None, "no auto scaling");
    }

    #[test]
    fn doubling_the_desired_count_doubles_what_the_tasks_take() {
        for (cpu, memory) in [(1024, 512), (256, 512), (300, 700)] {
            let one = api(&PRICES, &cluster(), &request(cpu, memory, 3)).unwrap();
            let two = api(&PRICES, &cluster(), &request(cpu, memory, 6)).unwrap();
            for item in [Item::Hosts, Item::RootVolumes, Item::LogIngestion, Item::LogStorage, Item::NatDataProcessing] {
                let (single, double) = (one.amount_of(item).micros(), two.amount_of(item).micros());
                // Each line rounds once, to the millionth of a dollar.
                assert!((double - 2 * single).abs() <= 1, "{item:?} at {cpu}/{memory}: {single} then {double}");
            }
            assert_eq!(one.amount_of(Item::LoadBalancerCapacity), two.amount_of(Item::LoadBalancerCapacity), "traffic, not tasks");
        }
    }

    #[test]
    fn with_auto_scaling_the_estimate_is_at_the_desired_count_within_the_scaling_range() {
        let mut input = request(1024, 512, 2);
        input.autoscaling = Some(AutoScaling { min: 1, max: 6, ..Default::default() });
        let estimate = api(&PRICES, &cluster(), &input).unwrap();
        let at = |n| api(&PRICES, &cluster(), &request(1024, 512, n)).unwrap().total;
        assert_eq!(estimate.total, at(2));
        let scaling = estimate.scaling.expect("a range");
        assert_eq!((scaling.counted, scaling.fewest, scaling.most), (Counted::Tasks, 1, 6));
        assert_eq!((scaling.low, scaling.high), (at(1), at(6)));
    }

    #[test]
    fn a_revision_shows_what_it_adds_or_saves() {
        let deployed = api(&PRICES, &cluster(), &request(1024, 512, 2)).unwrap();
        let more = api(&PRICES, &cluster(), &request(1024, 512, 4)).unwrap();
        let up = revision_difference(&deployed, &more);
        assert_eq!(up.change(), more.total - deployed.total);
        assert!(up.change() > Money::ZERO);
        // Two more half hosts ($30.368), 30 GB of root volume ($2.40), 2 GB more logs
        // ($1 + $0.059178 + $0.09).
        assert_eq!(up.change(), dollars(33_917_178));
        assert_eq!(up.to_string(), "about $34 / month more (estimate)");
        let moved: Vec<Item> = up.changes.iter().map(|c| c.item).collect();
        assert!(moved.contains(&Item::Hosts) && !moved.contains(&Item::LoadBalancerCapacity), "{moved:?}");

        let down = revision_difference(&more, &deployed);
        assert_eq!(down.change(), -up.change());
        assert_eq!(down.to_string(), "about $34 / month less (estimate)");

        let same = revision_difference(&deployed, &deployed.clone());
        assert_eq!((same.change(), same.changes.len()), (Money::ZERO, 0));
        assert_eq!(same.to_string(), "no change to the estimate");
    }

    #[test]
    fn a_change_of_a_cent_or_less_is_not_rounded_to_nothing() {
        let before = MonthlyEstimate::new(Vec::new(), None);
        let item = LineItem::new(Item::LogStorage, Charge::Own, Quantity::ratio(1, 10), dollars(30_000), String::new());
        let after = MonthlyEstimate::new(vec![item], None);
        assert_eq!(revision_difference(&before, &after).to_string(), "under $0.01 / month more (estimate)");
    }

    #[test]
    fn regions_and_instance_types_without_prices_are_errors_not_zero() {
        assert_eq!(
            environment_estimate("mars-north-1", &cluster()),
            Err(EstimateError::NoPrices("mars-north-1".into()))
        );
        assert_eq!(api_estimate("mars-north-1", &cluster(), &request(256, 512, 2)).unwrap_err().to_string(), "no prices for region mars-north-1");
        let odd = ClusterParameters { instance_type: "x9.huge".into(), ..cluster() };
        assert_eq!(environment(&PRICES, &odd), Err(EstimateError::NoInstancePrice("x9.huge".into())));
        assert_eq!(api(&PRICES, &odd, &request(256, 512, 2)), Err(EstimateError::NoInstancePrice("x9.huge".into())));
    }

    #[test]
    fn every_priced_region_estimates_every_offered_instance_type() {
        for region in priced_regions() {
            for instance in instance_types::OFFERED {
                let cluster = ClusterParameters { instance_type: instance.name.into(), ..cluster() };
                let environment = environment_estimate(region, &cluster).unwrap();
                let api = api_estimate(region, &cluster, &request(256, 512, 2)).unwrap();
                assert!(environment.total > api.total && api.total > Money::ZERO, "{region} {}", instance.name);
            }
        }
    }

    #[test]
    fn half_typed_figures_estimate_without_panicking() {
        let huge = request(u32::MAX, u32::MAX, u32::MAX);
        let estimate = api(&PRICES, &cluster(), &huge).unwrap();
        assert!(estimate.total > Money::ZERO);
        let nothing = api(&PRICES, &cluster(), &request(0, 0, 0)).unwrap();
        assert_eq!(nothing.total, line(&nothing, Item::LoadBalancerCapacity).monthly);
    }

    /// The constants above are read off the templates: they must not drift apart.
    #[test]
    fn the_assumptions_match_the_templates() {
        use serde_yaml::Value;
        let cluster: Value = serde_yaml::from_str(include_str!("../../cloudformation/cluster.yaml")).unwrap();
        let service: Value = serde_yaml::from_str(include_str!("../../cloudformation/service.yaml")).unwrap();
        let resources = cluster["Resources"].as_mapping().unwrap();
        let of_type = |t: &str| resources.values().filter(|r| r["Type"].as_str() == Some(t)).count();
        assert_eq!(of_type("AWS::EC2::NatGateway") as u32, NAT_GATEWAYS);
        assert_eq!(of_type("AWS::EC2::EIP") as u32, NAT_GATEWAYS, "an Elastic IP per NAT gateway");
        let volume = &cluster["Resources"]["ContainerInstanceLaunchTemplate"]["Properties"]["LaunchTemplateData"]
            ["BlockDeviceMappings"][0]["Ebs"];
        assert_eq!(volume["VolumeType"].as_str(), Some("gp3"));
        assert_eq!(volume["VolumeSize"].as_u64(), Some(u64::from(ROOT_VOLUME_GB)));
        let group = &cluster["Resources"]["ECSAutoScalingGroup"]["Properties"];
        assert_eq!(group["MinSize"].as_str(), Some(HOSTS_MIN.to_string().as_str()));
        let balancer = &cluster["Resources"]["PublicLoadBalancer"]["Properties"];
        assert_eq!(balancer["Type"].as_str(), Some("application"));
        assert_eq!(balancer["Subnets"].as_sequence().map(Vec::len), Some((PUBLIC_IPV4_ADDRESSES - NAT_GATEWAYS) as usize));
        let logs = &service["Resources"]["LogGroup"]["Properties"];
        assert_eq!(logs["RetentionInDays"].as_u64(), Some(u64::from(LOG_RETENTION_DAYS)));
    }
}

/// An API's estimate as shown to the requester (live, in the form) and the approver (on the
/// request, also in the JSON API): the same figures from the same function.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CostSummary {
    /// The API's share, e.g. "about $12 / month (estimate)"; or why there is no estimate.
    pub api: String,
    /// Of it, what costs money of its own (the host share is the environment's, divided up).
    pub api_added: Option<String>,
    /// With auto scaling: the range from its minimum to its maximum.
    pub api_scaling: Option<String>,
    pub lines: Vec<CostLine>,
    /// The environment the API runs in, for context.
    pub environment: Option<String>,
    /// For a revision of a deployed API: what it changes, e.g. "about $6 / month more (estimate)".
    pub change: Option<String>,
    /// Where the prices come from and their date.
    pub prices: String,
    pub not_counted: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CostLine {
    pub item: String,
    pub quantity: String,
    pub unit_price: String,
    pub monthly: String,
    pub basis: String,
    /// True for a share of the environment's cost rather than money of its own.
    pub share: bool,
}

/// The summary of `input` in `cluster` (in `region`), and against `deployed` when a
/// revision changes a deployed API.
pub fn summary(region: &str, cluster: &ClusterParameters, input: &RequestInput, deployed: Option<&RequestInput>) -> CostSummary {
    let prices = format!("Prices as of {AS_OF}. {SOURCE}");
    let not_counted = NOT_COUNTED.iter().map(|s| s.to_string()).collect();
    let estimate = match api_estimate(region, cluster, input) {
        Ok(estimate) => estimate,
        Err(e) => return CostSummary { api: format!("No estimate: {e}"), prices, not_counted, ..Default::default() },
    };
    let change = deployed
        .and_then(|before| api_estimate(region, cluster, before).ok())
        .map(|before| revision_difference(&before, &estimate).to_string());
    CostSummary {
        api: estimate.to_string(),
        api_added: Some(format!("{} / month of its own", estimate.added().rounded())),
        api_scaling: estimate.scaling.map(|s| s.to_string()),
        lines: estimate
            .items
            .iter()
            .map(|l| CostLine {
                item: l.item.label().to_string(),
                quantity: format!("{} {}", l.quantity, l.item.unit()),
                unit_price: l.unit_price.precise(),
                monthly: l.monthly.rounded(),
                basis: l.basis.clone(),
                share: l.charge == Charge::ShareOfEnvironment,
            })
            .collect(),
        environment: environment_estimate(region, cluster).ok().map(|e| e.to_string()),
        change,
        prices,
        not_counted,
    }
}
