//! The results model's open-loop and scale figures, read through one accessor each.
//!
//! Another change adds them to [`Cell`]: `histograms.uncorrected` (`Option<Encoded>`: the
//! latency from when each request was *sent*, beside the corrected one from when it was due)
//! and `server.rss_per_connection_kib` (scale cells). Until those fields exist these return
//! `None` and the page simply has no such plots; whoever lands the fields makes each body one
//! line (shown in its comment) and the plots appear, with nothing else to change.

use hdrhistogram::Histogram;

use crate::results::{Cell, Mode};

/// Whether `cell` was measured at a fixed offered rate.
pub fn is_open(cell: &Cell) -> bool {
    cell.mode == Mode::Open
}

/// An open-loop cell's latency without coordinated-omission correction (nanoseconds).
pub fn uncorrected(_cell: &Cell) -> Option<&Histogram<u64>> {
    // _cell.histograms.uncorrected.as_ref().map(|encoded| &encoded.0)
    None
}

/// A scale cell's server memory per open connection, KiB.
pub fn rss_per_connection_kib(_cell: &Cell) -> Option<f64> {
    // _cell.server.and_then(|server| server.rss_per_connection_kib)
    None
}
