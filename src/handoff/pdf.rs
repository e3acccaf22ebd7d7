//! The handoff sheet as a PDF: headless Chromium prints the sheet's HTML (`--print-to-pdf`)
//! on the paper asked for, under a time limit, with a profile directory of its own that is
//! removed afterwards. Finds the browser on `PATH` (or `DESKREADY_BROWSER`); never prints.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The paper a PDF is printed on (the HTML itself prints on whatever the printer has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    #[default]
    A4,
    Letter,
}

impl Paper {
    pub fn css(self) -> &'static str {
        match self {
            Paper::A4 => "A4",
            Paper::Letter => "letter",
        }
    }
}

/// How long the browser may take to print one sheet.
const LIMIT: Duration = Duration::from_secs(120);

/// Browsers tried, in order, when `DESKREADY_BROWSER` is not set.
const BROWSERS: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "no headless browser to print the PDF with (looked for {} on PATH; install chromium, or set DESKREADY_BROWSER)",
        BROWSERS.join(", ")
    )]
    NoBrowser,
    #[error("cannot run {}: {source}", browser.display())]
    Spawn {
        browser: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} did not print the PDF within {}s; it was stopped", browser.display(), LIMIT.as_secs())]
    TimedOut { browser: PathBuf },
    #[error("{} wrote no PDF ({status})", browser.display())]
    NoOutput { browser: PathBuf, status: String },
    #[error("cannot prepare the PDF: {0}")]
    Io(#[from] std::io::Error),
}

/// The browser to print with.
fn browser() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("DESKREADY_BROWSER").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(b));
    }
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Prints `html` (a whole page) to `pdf` on `paper`. `pdf` is written whole or not at all.
pub fn print(html: &str, pdf: &Path, paper: Paper) -> Result<(), PdfError> {
    let browser = browser().ok_or(PdfError::NoBrowser)?;
    let dir = pdf.parent().unwrap_or(Path::new("."));
    let work = tempdir_in(dir)?;
    let result = print_in(&browser, html, pdf, paper, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn print_in(
    browser: &Path,
    html: &str,
    pdf: &Path,
    paper: Paper,
    work: &Path,
) -> Result<(), PdfError> {
    let page = work.join("sheet.html");
    let sized = html.replacen(
        "</style>",
        &format!("@page {{ size: {}; }}\n</style>", paper.css()),
        1,
    );
    std::fs::write(&page, sized)?;
    let out = work.join("sheet.pdf");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|source| PdfError::Spawn {
            browser: browser.to_path_buf(),
            source,
        })?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > LIMIT {
            // The browser's helpers are in its process group: stop them all.
            // SAFETY: kill(2) on the group this function started; no memory is touched.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
            return Err(PdfError::TimedOut {
                browser: browser.to_path_buf(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let written = std::fs::metadata(&out).is_ok_and(|m| m.len() > 0)
        && std::fs::read(&out).is_ok_and(|b| b.starts_with(b"%PDF"));
    if !written {
        return Err(PdfError::NoOutput {
            browser: browser.to_path_buf(),
            status: status.to_string(),
        });
    }
    std::fs::rename(&out, pdf)?;
    Ok(())
}

/// A private directory under `dir` for one print.
fn tempdir_in(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let p = dir.join(format!(".print-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&p)?;
    Ok(p)
}
