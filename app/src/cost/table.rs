//! The shape of the price table and how an estimate finds a region's prices. The figures
//! themselves are in `prices`, which `scripts/refresh-prices` writes.

use super::amounts::Money;
use super::{prices, EstimateError};

/// What Berth's stacks are charged for in one region, before any discount, free tier or
/// savings plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionPrices {
    pub region: &'static str,
    /// EC2 on demand, Linux, shared tenancy, per instance-hour: every offered type.
    pub instance_hourly: &'static [(&'static str, Money)],
    pub nat_gateway_hourly: Money,
    /// Per GB a NAT gateway processes, in either direction.
    pub nat_gateway_per_gb: Money,
    /// Application Load Balancer, per load balancer-hour.
    pub load_balancer_hourly: Money,
    /// Application Load Balancer, per load balancer capacity unit-hour.
    pub lcu_hourly: Money,
    /// Per in-use public IPv4 address-hour (NAT gateways' Elastic IPs, the load balancer's).
    pub public_ipv4_hourly: Money,
    /// CloudWatch Logs, standard log class, per GB ingested.
    pub log_ingestion_per_gb: Money,
    /// CloudWatch Logs, per GB-month stored.
    pub log_storage_per_gb_month: Money,
    /// EBS gp3, per GB-month (the hosts' root volumes; their baseline IOPS and throughput
    /// are included).
    pub gp3_per_gb_month: Money,
}

impl RegionPrices {
    pub fn instance_hourly(&self, instance_type: &str) -> Option<Money> {
        self.instance_hourly.iter().find(|(name, _)| *name == instance_type).map(|(_, price)| *price)
    }
}

/// Where the table's figures come from, and their date.
pub use prices::{AS_OF, SOURCE};

/// A region's prices; regions the table does not hold are an error, never a zero.
pub fn prices_for(region: &str) -> Result<&'static RegionPrices, EstimateError> {
    prices::REGIONS
        .iter()
        .find(|p| p.region == region)
        .ok_or_else(|| EstimateError::NoPrices(region.to_string()))
}

/// The regions the table holds, in its order.
pub fn priced_regions() -> impl Iterator<Item = &'static str> {
    prices::REGIONS.iter().map(|p| p.region)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_types::OFFERED;

    /// The script that writes the table, for the regions it writes.
    const SCRIPT: &str = include_str!("../../../scripts/refresh-prices");

    #[test]
    fn every_offered_instance_type_has_a_price_in_every_region() {
        for prices in prices::REGIONS {
            for instance in OFFERED {
                let price = prices.instance_hourly(instance.name);
                assert!(price.is_some_and(|p| p > Money::ZERO), "{} has no price for {}", prices.region, instance.name);
            }
            assert_eq!(prices.instance_hourly.len(), OFFERED.len(), "{} prices only the offered types", prices.region);
        }
    }

    #[test]
    fn no_price_in_the_table_is_zero() {
        for p in prices::REGIONS {
            let all = [
                p.nat_gateway_hourly,
                p.nat_gateway_per_gb,
                p.load_balancer_hourly,
                p.lcu_hourly,
                p.public_ipv4_hourly,
                p.log_ingestion_per_gb,
                p.log_storage_per_gb_month,
                p.gp3_per_gb_month,
            ];
            assert!(all.iter().all(|price| *price > Money::ZERO), "{}: {p:?}", p.region);
        }
    }

    #[test]
    fn the_table_holds_the_regions_the_script_writes() {
        let line = SCRIPT.lines().find(|l| l.starts_with("REGIONS = (")).expect("the script names its regions");
        let written: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert!(written.len() >= 6, "{written:?}");
        assert_eq!(priced_regions().collect::<Vec<_>>(), written);
    }

    #[test]
    fn the_table_says_where_its_figures_come_from_and_their_date() {
        for offer in ["AmazonEC2", "AWSELB", "AmazonCloudWatch", "AmazonVPC"] {
            assert!(SOURCE.contains(offer), "{SOURCE}");
        }
        // A year, or the date the script read from the offer files.
        assert!(AS_OF.len() >= 4 && AS_OF[..4].bytes().all(|b| b.is_ascii_digit()), "{AS_OF}");
    }

    #[test]
    fn an_unknown_region_has_no_prices() {
        assert_eq!(prices_for("mars-north-1"), Err(EstimateError::NoPrices("mars-north-1".into())));
        assert_eq!(prices_for("us-east-1").map(|p| p.region), Ok("us-east-1"));
    }
}
