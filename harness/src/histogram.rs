//! Latency histograms: their bounds, and how they are written down — HdrHistogram's V2-deflate
//! encoding in base64, the interchange format HdrHistogram's own tools (Java, C, Go, Rust, its
//! online plotter) read. `results.json` stores them so; a load host sends them so. Percentiles
//! can be recomputed from a stored results file, years later, without rerunning.

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency a histogram holds: one hour, far past any timeout.
pub const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// A histogram for latencies: 1 ns to an hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("1 ns..1 h with 3 digits is a valid histogram")
}

/// A latency histogram (nanoseconds) that serializes as base64 V2-deflate.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded(pub Histogram<u64>);

impl Default for Encoded {
    fn default() -> Self {
        Encoded(latency_histogram())
    }
}

impl Serialize for Encoded {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        encoded::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Encoded {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        encoded::deserialize(deserializer).map(Encoded)
    }
}

/// `#[serde(with = "encoded")]` for a `Histogram<u64>` field: base64 V2-deflate.
pub mod encoded {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        histogram: &Histogram<u64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new().serialize(histogram, &mut bytes).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|err| serde::de::Error::custom(format!("histogram: not base64 ({err})")))?;
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|err| serde::de::Error::custom(format!("histogram: not HdrHistogram V2 ({err:?})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let mut histogram = latency_histogram();
        for ns in [1, 999, 1_000_000, 123_456_789, 3_000_000_000] {
            histogram.record_n(ns, ns % 7 + 1).unwrap();
        }
        let encoded = serde_json::to_string(&Encoded(histogram.clone())).unwrap();
        let back: Encoded = serde_json::from_str(&encoded).unwrap();
        assert_eq!(back.0, histogram);
        assert_eq!(back.0.value_at_quantile(0.99), histogram.value_at_quantile(0.99));
    }

    /// The compressed V2 cookie (0x1c849304), base64-encoded, starts with `HISTF`: the mark
    /// HdrHistogram's tools (and its online plotter) look for.
    #[test]
    fn is_hdrhistograms_compressed_v2() {
        let encoded = serde_json::to_string(&Encoded::default()).unwrap();
        assert!(encoded.starts_with("\"HISTF"), "{encoded}");
        let bad: Result<Encoded, _> = serde_json::from_str("\"not a histogram\"");
        assert!(bad.is_err());
    }
}
