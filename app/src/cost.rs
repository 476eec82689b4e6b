//! What an environment and an API are estimated to cost a month, shown before anyone
//! approves them. Pure arithmetic, shared with the browser.
//!
//! - `amounts`: money and quantities as integer millionths, and how they are shown.

mod amounts;

pub use amounts::{Money, Quantity};
