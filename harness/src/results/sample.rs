//! Made-up results for the HTML report's tests: any number of variants, levels and repeats,
//! with histograms of a plausible shape (a body around 50 µs and a long tail), the same on
//! every run.

use crate::results::tests::cell_with_runs;
use crate::results::{Meta, Results, ScenarioMeta, VariantMeta, SCHEMA_VERSION};
use crate::stats::Percentiles;

/// Results of `variants` × `levels` in one scenario, `repeat` runs a cell, `samples`
/// latencies a cell.
pub fn results(variants: &[&str], levels: &[usize], repeat: usize, samples: u64) -> Results {
    let mut cells = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for level in levels {
        for (v, variant) in variants.iter().enumerate() {
            let rates: Vec<f64> = (0..repeat)
                .map(|r| 10_000.0 * *level as f64 / (1.0 + v as f64 / 4.0) * (1.0 + r as f64 / 20.0))
                .collect();
            let mut cell = cell_with_runs(variant, *level, &rates);
            let histogram = &mut cell.histograms.latency.0;
            for _ in 0..samples {
                // xorshift: a uniform u in (0, 1], then a tail that doubles every few percent.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
                let ns =
                    40_000.0 * (1.0 + v as f64 / 10.0) * (1.0 + *level as f64 / 5.0) / (1.0 - u * 0.9999);
                histogram.record(ns as u64).expect("within the histogram's bounds");
            }
            cell.latency_us = Percentiles::of(histogram);
            cells.push(cell);
        }
    }
    let scenario = ScenarioMeta {
        name: crate::plan::CLASSIC.into(),
        mode: crate::results::Mode::Closed,
        requests: samples / repeat.max(1) as u64,
        concurrency: levels.to_vec(),
        rate: Vec::new(),
        keep_alive: true,
        warmup: 0,
        repeat,
        path: "/".into(),
        timeout_s: 10.0,
        max_run_time_s: 300.0,
        duration_s: None,
        warmup_time_s: None,
        connections: None,
        idle_time_s: None,
        slow_clients: 0,
        cpu_idle: crate::plan::CpuIdle::Native,
        profile: false,
        pipeline: 1,
        mix: Vec::new(),
        seed: 1,
        interval_s: None,
        workers: Vec::new(),
        files: None,
    };
    let variant_meta = |name: &&str| VariantMeta {
        name: (*name).into(),
        launch: "builtin".into(),
        builtin: Some((*name).into()),
        workers: 1,
        command: vec!["harness".into(), "serve".into(), (*name).into()],
        runtime: None,
        runtime_version: None,
        cpus_in_force: vec![0],
        notes: Vec::new(),
    };
    Results {
        schema_version: SCHEMA_VERSION,
        meta: Meta {
            started_utc: "2026-11-28T00:00:00Z".into(),
            matrix: "matrix.toml".into(),
            harness_version: "0.1.0".into(),
            git_commit: "abc1234".into(),
            build_profile: "release (opt-level 3)".into(),
            kernel: "6.1.0".into(),
            cpu_model: "Test CPU".into(),
            cpus: 2,
            server_cpus: vec![0],
            load_cpus: vec![1],
            server_host: None,
            load_hosts: Vec::new(),
            hosts: Vec::new(),
            order: "interleaved".into(),
            baseline: variants.first().map_or_else(String::new, |v| (*v).to_owned()),
            load_generator: "harness closed loop (mio)".into(),
            scenarios: vec![scenario],
            variants: variants.iter().map(variant_meta).collect(),
            warnings: Vec::new(),
            cpu_awake: Vec::new(),
        },
        cells,
        problems: Vec::new(),
        interrupted: false,
        calibration: Vec::new(),
    }
}

/// Results of `variants` with workers as an axis (`workers`) × `levels`, `repeat` runs a cell:
/// at the first workers value every variant serves 10,000 requests per second; each doubling of
/// the workers multiplies that by 1.8 for the first variant and by 2 for the others, and the
/// server CPU per request grows by a tenth for the first.
pub fn scaling(variants: &[&str], workers: &[usize], levels: &[usize], repeat: usize) -> Results {
    let mut results = results(variants, levels, repeat, 100);
    results.meta.scenarios[0].workers = workers.to_vec();
    results.meta.server_cpus = (0..workers.iter().copied().max().unwrap_or(1)).collect();
    let flat: Vec<crate::results::Cell> = std::mem::take(&mut results.cells);
    for &n in workers {
        let doublings = (n as f64 / workers[0] as f64).log2();
        for template in &flat {
            let first = template.variant == variants[0];
            let gain = if first { 1.8f64 } else { 2.0 }.powf(doublings);
            let rates: Vec<f64> = (0..repeat).map(|r| 10_000.0 * gain * (1.0 + r as f64 / 1000.0)).collect();
            let mut cell =
                crate::results::tests::cell_with_runs(&template.variant, template.concurrency, &rates);
            cell.requests_per_second = Some(10_000.0 * gain);
            cell.workers = n;
            cell.workers_axis = true;
            cell.meta.server_cpus = (0..n).collect();
            cell.histograms = template.histograms.clone();
            cell.latency_us = template.latency_us;
            let cpu = if first { 8.0 * (1.0 + doublings / 10.0) } else { 8.0 };
            for run in &mut cell.runs {
                if let Some(server) = run.server.as_mut() {
                    server.cpu_us_per_request = Some(cpu);
                }
            }
            if let Some(server) = cell.server.as_mut() {
                server.cpu_us_per_request = Some(cpu);
            }
            results.cells.push(cell);
        }
    }
    results
}
