//! What an environment and an API are estimated to cost a month, shown before anyone
//! approves them. Pure arithmetic on a price table kept in the repository, shared with the
//! browser.
//!
//! - `amounts`: money and quantities as integer millionths, and how they are shown.
//! - `table`: the shape of the price table and its look-up by region.
//! - `prices`: the table itself, written by `scripts/refresh-prices` (its source and date
//!   are [`SOURCE`] and [`AS_OF`]).

mod amounts;
mod prices;
mod table;

pub use amounts::{Money, Quantity};
pub use table::{priced_regions, prices_for, RegionPrices, AS_OF, SOURCE};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EstimateError {
    #[error("no prices for region {0}")]
    NoPrices(String),
    #[error("no price for instance type {0}")]
    NoInstancePrice(String),
}
