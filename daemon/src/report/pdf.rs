//! PDF from the HTML through headless Chromium (`--print-to-pdf`), which lays out the page
//! and embeds the subset of the (CJK) fonts it used, so the file reads the same everywhere.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::ReportError;

/// The browsers tried, in order (Debian's `chromium`, then Google's).
const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

pub fn print(html: &str, pdf: &Path) -> Result<(), ReportError> {
    // The page and the browser's profile in a directory beside the PDF, removed afterwards.
    let dir = pdf.with_extension("print.tmp");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ReportError::Pdf(format!("{}: {e}", dir.display())))?;
    let r = print_in(html, pdf, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn print_in(html: &str, pdf: &Path, dir: &Path) -> Result<(), ReportError> {
    let page = dir.join("report.html");
    std::fs::write(&page, html).map_err(|e| ReportError::Pdf(e.to_string()))?;
    let out = pdf
        .canonicalize()
        .or_else(|_| std::env::current_dir().map(|d| d.join(pdf)))
        .map_err(|e| ReportError::Pdf(e.to_string()))?;
    let browser = BROWSERS
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| {
            ReportError::Pdf(
                "no Chromium found (apt install chromium); the HTML report prints the same".into(),
            )
        })?;
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!(
            "file://{}",
            page.canonicalize().unwrap_or(page.clone()).display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| ReportError::Pdf(format!("{browser}: {e}")))?;
    // A bounded wait: a browser that hangs must not hang the report.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() && out.exists() => return Ok(()),
            Ok(Some(st)) => return Err(ReportError::Pdf(format!("{browser} exited with {st}"))),
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ReportError::Pdf(format!("{browser} took over 120 s")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(ReportError::Pdf(e.to_string())),
        }
    }
}
