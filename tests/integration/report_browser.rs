//! `pipeline report` in a real browser: the page of a synthetic dataset's
//! check run opened in headless Chromium (Debian's `chromium`; installed
//! with apt-get when missing and run as root), loaded without console errors
//! or fetches, and every chart drawn where its SVG sits on the screenshot.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixtures::pipeline_ok;
use crate::report::synthetic_run;

/// Page width of the screenshot, in CSS pixels (one device pixel each).
const WIDTH: u32 = 1280;

fn chromium() -> PathBuf {
    let found = || {
        ["chromium", "chromium-browser"].into_iter().find(|name| {
            Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    };
    if found().is_none() {
        for args in [&["update", "-q"][..], &["install", "-y", "-q", "chromium"]] {
            let _ = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status();
        }
    }
    PathBuf::from(found().expect("Chromium is needed: apt-get install chromium"))
}

/// What headless Chromium printed.
struct Run {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on `page` with `args`, stopping it after three
/// minutes; its output goes to files beside the profile (a pipe left unread
/// would stop it once full).
fn headless(page: &Path, profile: &Path, args: &[&str]) -> Run {
    fs::create_dir_all(profile).unwrap();
    let (out, err) = (profile.join("stdout"), profile.join("stderr"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish with {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let run = Run {
        stdout: fs::read_to_string(&out).unwrap(),
        stderr: String::from_utf8_lossy(&fs::read(&err).unwrap()).into_owned(),
    };
    assert!(status.success(), "chromium: {status}\n{}", run.stderr);
    run
}

/// Console messages (script errors, failed loads) in Chromium's log.
fn console_lines(run: &Run) -> Vec<String> {
    run.stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Failed to load"))
        .map(str::to_owned)
        .collect()
}

/// What a probe script appended to a copy of the page measures once loaded.
const PROBE: &str = "<script>document.body.setAttribute('data-probe', JSON.stringify({\
  height: document.documentElement.scrollHeight,\
  fetched: performance.getEntriesByType('resource').map(e => e.name),\
  broken: [...document.images].filter(i => !i.complete || i.naturalWidth == 0).length,\
  svgs: [...document.querySelectorAll('svg')].map(s => { const r = s.getBoundingClientRect();\
      return [Math.round(r.left), Math.round(r.top + scrollY), Math.round(r.width), Math.round(r.height)]; })\
}));</script>";

struct Png {
    width: usize,
    height: usize,
    samples: usize,
    pixels: Vec<u8>,
}

impl Png {
    fn read(path: &Path) -> Png {
        let limits = png::Limits { bytes: 1 << 30 };
        let file = std::io::BufReader::new(fs::File::open(path).unwrap());
        let mut decoder = png::Decoder::new_with_limits(file, limits);
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        Png {
            width: info.width as usize,
            height: info.height as usize,
            samples: info.color_type.samples(),
            pixels,
        }
    }

    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let at = (y * self.width + x) * self.samples;
        [self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]]
    }

    /// Share of the pixels in a rectangle that are not plain white.
    fn inked(&self, [x, y, w, h]: [usize; 4]) -> f64 {
        let mut ink = 0usize;
        for py in y..y + h {
            for px in x..x + w {
                if self.rgb(px, py) != [255, 255, 255] {
                    ink += 1;
                }
            }
        }
        ink as f64 / (w * h) as f64
    }
}

#[test]
fn a_report_renders_in_chromium_with_every_chart_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synthetic_run(dir);
    pipeline_ok(
        &[
            "report",
            "--data",
            "data",
            "--out",
            "report.html",
            "--top",
            "3",
        ],
        dir,
    );
    let page = dir.join("report.html");
    let html = fs::read_to_string(&page).unwrap();

    // Layout, fetches and chart positions, measured by a probe script in a
    // copy of the page (the report itself has none).
    let probe_page = dir.join("probe.html");
    fs::write(
        &probe_page,
        html.replace("</body>", &format!("{PROBE}</body>")),
    )
    .unwrap();
    let dumped = headless(
        &probe_page,
        &dir.join("profile-probe"),
        &[&format!("--window-size={WIDTH},900"), "--dump-dom"],
    );
    let dom = &dumped.stdout;
    let attr = dom
        .split("data-probe=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the probe did not run: {}", dumped.stderr));
    let probe: Value = serde_json::from_str(
        &attr
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .unwrap();
    assert_eq!(probe["fetched"], serde_json::json!([]), "the page fetched");
    assert_eq!(probe["broken"], 0);
    let svgs = probe["svgs"].as_array().unwrap();
    assert_eq!(svgs.len(), html.matches("<svg").count());
    assert!(svgs.len() > 3 * 4, "{} charts", svgs.len());
    let height = probe["height"].as_u64().unwrap() as u32;

    // The page itself, screenshot whole: no console message, every chart inked.
    let shot = dir.join("report.png");
    let out = headless(
        &page,
        &dir.join("profile-shot"),
        &[
            &format!("--window-size={WIDTH},{height}"),
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert_eq!(console_lines(&out), Vec::<String>::new());
    let png = Png::read(&shot);
    assert_eq!((png.width, png.height), (WIDTH as usize, height as usize));
    for svg in svgs {
        let rect: Vec<usize> = svg
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let [x, y, w, h] = [rect[0], rect[1], rect[2], rect[3]];
        assert!(w >= 50 && h >= 30, "a chart of {w}x{h} at {x},{y}");
        assert!(
            x + w <= png.width && y + h <= png.height,
            "{rect:?} off the page"
        );
        let ink = png.inked([x, y, w, h]);
        assert!(
            ink > 0.01,
            "the chart at {rect:?} is blank ({ink:.4} inked)"
        );
    }
    // Between the charts the page is mostly paper: the check above is not
    // passed by a page painted over.
    assert!(png.inked([0, 0, png.width, png.height]) < 0.6);
}
