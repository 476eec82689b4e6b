//! The price table of the cost estimates: per region, in millionths of a US dollar.
//!
//! Written by `scripts/refresh-prices`; do not edit it by hand, run the script on
//! current offer files instead.
//!
//! Source: Written from recollection of AWS's public pricing pages (Amazon EC2 On-Demand;
//! Amazon VPC for NAT gateways and public IPv4 addresses; Elastic Load Balancing; Amazon
//! CloudWatch; Amazon EBS) as they stood in 2025, Linux on demand in USD, not read from
//! those pages or from any offer file on the day: approximate until scripts/refresh-prices
//! is run on the AWS Price List bulk offer files AmazonEC2, AWSELB, AmazonCloudWatch and
//! AmazonVPC, which replaces them with figures read from AWS's own files.
//!
//! Prices as of 2025.

use super::amounts::Money;
use super::table::RegionPrices;

pub const SOURCE: &str = "Written from recollection of AWS's public pricing pages (Amazon EC2 On-Demand; Amazon VPC for NAT gateways and public IPv4 addresses; Elastic Load Balancing; Amazon CloudWatch; Amazon EBS) as they stood in 2025, Linux on demand in USD, not read from those pages or from any offer file on the day: approximate until scripts/refresh-prices is run on the AWS Price List bulk offer files AmazonEC2, AWSELB, AmazonCloudWatch and AmazonVPC, which replaces them with figures read from AWS's own files.";

pub const AS_OF: &str = "2025";

pub const REGIONS: &[RegionPrices] = &[
    RegionPrices {
        region: "us-east-1",
        instance_hourly: &[
            ("t3.small", Money::from_micros(20_800)),
            ("t3.medium", Money::from_micros(41_600)),
            ("t3.large", Money::from_micros(83_200)),
            ("t3.xlarge", Money::from_micros(166_400)),
            ("m5.large", Money::from_micros(96_000)),
            ("m5.xlarge", Money::from_micros(192_000)),
            ("m5.2xlarge", Money::from_micros(384_000)),
            ("c5.large", Money::from_micros(85_000)),
            ("c5.xlarge", Money::from_micros(170_000)),
            ("c5.2xlarge", Money::from_micros(340_000)),
            ("r5.large", Money::from_micros(126_000)),
            ("r5.xlarge", Money::from_micros(252_000)),
        ],
        nat_gateway_hourly: Money::from_micros(45_000),
        nat_gateway_per_gb: Money::from_micros(45_000),
        load_balancer_hourly: Money::from_micros(22_500),
        lcu_hourly: Money::from_micros(8_000),
        public_ipv4_hourly: Money::from_micros(5_000),
        log_ingestion_per_gb: Money::from_micros(500_000),
        log_storage_per_gb_month: Money::from_micros(30_000),
        gp3_per_gb_month: Money::from_micros(80_000),
    },
    RegionPrices {
        region: "us-east-2",
        instance_hourly: &[
            ("t3.small", Money::from_micros(20_800)),
            ("t3.medium", Money::from_micros(41_600)),
            ("t3.large", Money::from_micros(83_200)),
            ("t3.xlarge", Money::from_micros(166_400)),
            ("m5.large", Money::from_micros(96_000)),
            ("m5.xlarge", Money::from_micros(192_000)),
            ("m5.2xlarge", Money::from_micros(384_000)),
            ("c5.large", Money::from_micros(85_000)),
            ("c5.xlarge", Money::from_micros(170_000)),
            ("c5.2xlarge", Money::from_micros(340_000)),
            ("r5.large", Money::from_micros(126_000)),
            ("r5.xlarge", Money::from_micros(252_000)),
        ],
        nat_gateway_hourly: Money::from_micros(45_000),
        nat_gateway_per_gb: Money::from_micros(45_000),
        load_balancer_hourly: Money::from_micros(22_500),
        lcu_hourly: Money::from_micros(8_000),
        public_ipv4_hourly: Money::from_micros(5_000),
        log_ingestion_per_gb: Money::from_micros(500_000),
        log_storage_per_gb_month: Money::from_micros(30_000),
        gp3_per_gb_month: Money::from_micros(80_000),
    },
    RegionPrices {
        region: "us-west-2",
        instance_hourly: &[
            ("t3.small", Money::from_micros(20_800)),
            ("t3.medium", Money::from_micros(41_600)),
            ("t3.large", Money::from_micros(83_200)),
            ("t3.xlarge", Money::from_micros(166_400)),
            ("m5.large", Money::from_micros(96_000)),
            ("m5.xlarge", Money::from_micros(192_000)),
            ("m5.2xlarge", Money::from_micros(384_000)),
            ("c5.large", Money::from_micros(85_000)),
            ("c5.xlarge", Money::from_micros(170_000)),
            ("c5.2xlarge", Money::from_micros(340_000)),
            ("r5.large", Money::from_micros(126_000)),
            ("r5.xlarge", Money::from_micros(252_000)),
        ],
        nat_gateway_hourly: Money::from_micros(45_000),
        nat_gateway_per_gb: Money::from_micros(45_000),
        load_balancer_hourly: Money::from_micros(22_500),
        lcu_hourly: Money::from_micros(8_000),
        public_ipv4_hourly: Money::from_micros(5_000),
        log_ingestion_per_gb: Money::from_micros(500_000),
        log_storage_per_gb_month: Money::from_micros(30_000),
        gp3_per_gb_month: Money::from_micros(80_000),
    },
    RegionPrices {
        region: "eu-west-1",
        instance_hourly: &[
            ("t3.small", Money::from_micros(22_800)),
            ("t3.medium", Money::from_micros(45_600)),
            ("t3.large", Money::from_micros(91_200)),
            ("t3.xlarge", Money::from_micros(182_400)),
            ("m5.large", Money::from_micros(107_000)),
            ("m5.xlarge", Money::from_micros(214_000)),
            ("m5.2xlarge", Money::from_micros(428_000)),
            ("c5.large", Money::from_micros(96_000)),
            ("c5.xlarge", Money::from_micros(192_000)),
            ("c5.2xlarge", Money::from_micros(384_000)),
            ("r5.large", Money::from_micros(141_000)),
            ("r5.xlarge", Money::from_micros(282_000)),
        ],
        nat_gateway_hourly: Money::from_micros(48_000),
        nat_gateway_per_gb: Money::from_micros(48_000),
        load_balancer_hourly: Money::from_micros(25_200),
        lcu_hourly: Money::from_micros(8_000),
        public_ipv4_hourly: Money::from_micros(5_000),
        log_ingestion_per_gb: Money::from_micros(570_000),
        log_storage_per_gb_month: Money::from_micros(30_000),
        gp3_per_gb_month: Money::from_micros(88_000),
    },
    RegionPrices {
        region: "eu-central-1",
        instance_hourly: &[
            ("t3.small", Money::from_micros(24_000)),
            ("t3.medium", Money::from_micros(48_000)),
            ("t3.large", Money::from_micros(96_000)),
            ("t3.xlarge", Money::from_micros(192_000)),
            ("m5.large", Money::from_micros(115_000)),
            ("m5.xlarge", Money::from_micros(230_000)),
            ("m5.2xlarge", Money::from_micros(460_000)),
            ("c5.large", Money::from_micros(97_000)),
            ("c5.xlarge", Money::from_micros(194_000)),
            ("c5.2xlarge", Money::from_micros(388_000)),
            ("r5.large", Money::from_micros(152_000)),
            ("r5.xlarge", Money::from_micros(304_000)),
        ],
        nat_gateway_hourly: Money::from_micros(52_000),
        nat_gateway_per_gb: Money::from_micros(52_000),
        load_balancer_hourly: Money::from_micros(27_000),
        lcu_hourly: Money::from_micros(8_000),
        public_ipv4_hourly: Money::from_micros(5_000),
        log_ingestion_per_gb: Money::from_micros(630_000),
        log_storage_per_gb_month: Money::from_micros(32_400),
        gp3_per_gb_month: Money::from_micros(95_200),
    },
    RegionPrices {
        region: "ap-southeast-2",
        instance_hourly: &[
            ("t3.small", Money::from_micros(26_400)),
            ("t3.medium", Money::from_micros(52_800)),
            ("t3.large", Money::from_micros(105_600)),
            ("t3.xlarge", Money::from_micros(211_200)),
            ("m5.large", Money::from_micros(120_000)),
            ("m5.xlarge", Money::from_micros(240_000)),
            ("m5.2xlarge", Money::from_micros(480_000)),
            ("c5.large", Money::from_micros(111_000)),
            ("c5.xlarge", Money::from_micros(222_000)),
            ("c5.2xlarge", Money::from_micros(444_000)),
            ("r5.large", Money::from_micros(151_000)),
            ("r5.xlarge", Money::from_micros(302_000)),
        ],
        nat_gateway_hourly: Money::from_micros(59_000),
        nat_gateway_per_gb: Money::from_micros(59_000),
        load_balancer_hourly: Money::from_micros(25_200),
        lcu_hourly: Money::from_micros(8_000),
        public_ipv4_hourly: Money::from_micros(5_000),
        log_ingestion_per_gb: Money::from_micros(570_000),
        log_storage_per_gb_month: Money::from_micros(33_000),
        gp3_per_gb_month: Money::from_micros(96_000),
    },
];
