//! The report in a real browser: headless Chromium renders a real sweep's `report.html` to a
//! PNG, with the network unused, and the picture must be neither blank nor tiny.
//!
//! Chromium is required (`scripts/test` installs Debian's `chromium`); without it this test is
//! skipped, saying how to install it, or fails with `RUNTIME_MATRIX_STRICT=1` (as in CI).
//! `RUNTIME_MATRIX_NO_BROWSER=1` skips it, loudly, even then.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server_conformance::test_name;
use server_conformance::tools::{find, require, CHROMIUM, PERF};
use support::{results_dir, text, Scratch};

/// How long Chromium may take to start, render and write the screenshot.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The smallest screenshot that can hold the page's plots and tables.
const MIN_PNG_BYTES: u64 = 20 * 1024;

/// Renders `page` to `png` at 1280×2000 with a throwaway profile and nothing from the network.
fn screenshot(chromium: &Path, page: &Path, png: &Path, profile: &Path) {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                assert!(status.success(), "chromium failed ({status}):\n{stderr}");
                return;
            }
            None if started.elapsed() > BROWSER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish the screenshot within {BROWSER_TIMEOUT:?}");
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The screenshot's pixels as RGB.
fn pixels(png: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::io::BufReader::new(std::fs::File::open(png).expect("open the screenshot"));
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buffer).expect("decode the PNG");
    let channels = info.color_type.samples();
    let rgb = buffer[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| if channels >= 3 { [p[0], p[1], p[2]] } else { [p[0], p[0], p[0]] })
        .collect();
    (info.width, info.height, rgb)
}

#[test]
fn chromium_renders_the_report() {
    if std::env::var("RUNTIME_MATRIX_NO_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: chromium_renders_the_report (RUNTIME_MATRIX_NO_BROWSER=1)");
        return;
    }
    if !require(test_name!(chromium_renders_the_report), &[CHROMIUM, PERF]) {
        return;
    }
    let chromium = find(&CHROMIUM).expect("chromium, found by require");
    let scratch = Scratch::new();
    // Profiled too: one flame graph per cell, to render on its own below.
    let matrix =
        "[sweep]\nrequests = 3000\nconcurrency = [1, 2]\nkeep_alive = true\nrepeat = 4\nprofile = true\n\n\
                  [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let page = results_dir(&out).join("report.html");
    let png = scratch.path().join("report.png");
    screenshot(&chromium, &page, &png, &scratch.path().join("profile"));

    let bytes = std::fs::metadata(&png).expect("a screenshot").len();
    let (width, height, pixels) = pixels(&png);
    eprintln!("{}: {width}×{height}, {bytes} bytes", png.display());
    assert!(bytes > MIN_PNG_BYTES, "a tiny screenshot ({bytes} bytes): the page did not render");
    assert_eq!((width, height), (1280, 2000));
    let ink = pixels.iter().filter(|p| p.iter().any(|c| *c < 235)).count();
    assert!(ink * 100 > pixels.len() * 3, "a blank page: {ink} of {} pixels are not white", pixels.len());
    let mut colours = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "too few colours for plots and text: {}", colours.len());
    // The variants' colours (tokio's blue, smol's orange) are on screen, in the swatches.
    for (variant, colour) in [("tokio", [0x1f, 0x77, 0xb4]), ("smol", [0xff, 0x7f, 0x0e])] {
        let count = pixels.iter().filter(|p| **p == colour).count();
        assert!(count > 100, "{variant}'s colour is drawn ({count} pixels)");
    }

    // A flame graph, rendered on its own: its frames are warm colours (reds, oranges, yellows).
    let flame = results_dir(&out).join("profiles").join("tokio-c2-k.svg");
    assert!(flame.exists(), "{} was written", flame.display());
    let png = scratch.path().join("flame.png");
    screenshot(&chromium, &flame, &png, &scratch.path().join("profile-flame"));
    let (_, _, flame_pixels) = self::pixels(&png);
    let warm =
        flame_pixels.iter().filter(|[r, g, b]| *r > 180 && *b < 120 && *g < 230 && *r > *b + 80).count();
    assert!(
        warm * 100 > flame_pixels.len(),
        "a flame graph's frames are on screen: {warm} warm pixels of {}",
        flame_pixels.len()
    );
}
