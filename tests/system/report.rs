//! Issue 21 (part): `meilid report` for the generated October of a small town (213 devices):
//! HTML, PDF (Chromium; Chinese headings found by `pdftotext`, pages rendered by `pdftoppm`
//! and kept in target/tmp/report/), XLSX read back by Python's openpyxl and CSV — their numbers
//! equal `meilid replay --format json`'s.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::town;
use crate::util::meilid_replay_with;

fn report(config: &Path, input: &Path, out: &Path, extra: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_meilid"))
        .args([
            "report",
            "--site",
            "town",
            "--month",
            "2026-10",
            "--ignore-lateness",
            "--config",
        ])
        .arg(config)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "report failed: {err}");
    eprintln!("{err}");
    String::from_utf8(o.stdout).unwrap()
}

/// openpyxl's reading of the workbook: {sheet: [[cell, …], …]}.
fn openpyxl(path: &Path) -> Value {
    let o = Command::new("python3")
        .args([
            "-c",
            "import json,sys,openpyxl\n\
             wb=openpyxl.load_workbook(sys.argv[1],read_only=True)\n\
             print(json.dumps({ws.title:[list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets},default=str))",
        ])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "openpyxl: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_month_report_in_every_format_matches_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("town.toml");
    std::fs::write(&config, town::config()).unwrap();
    let input = dir.path().join("october.ndjson");
    std::fs::write(&input, town::capture()).unwrap();
    let out = dir.path().join("reports");
    let printed = report(&config, &input, &out, &[]);
    let stem = out.join("town-2026-10");
    for ext in ["html", "pdf", "xlsx", "csv"] {
        let f = stem.with_extension(ext);
        assert!(printed.contains(&f.display().to_string()), "{printed}");
        assert!(
            std::fs::metadata(&f).unwrap().len() > 1000,
            "{} is too small",
            f.display()
        );
    }
    let doc = meilid_replay_with(&config, &input, &["--ignore-lateness"]);
    let month = |metric: &str| -> Option<f64> {
        doc["compliance"].as_array().unwrap().iter().find(|c| {
            c["metric"] == metric && c["window"] == "month" && c["start"] == "2026-10-01"
        })?["value"]
            .as_f64()
    };

    // PDF: real glyphs (the text layer has the Chinese headings), pages as images.
    let pdf = stem.with_extension("pdf");
    let text = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&text.stdout);
    for h in [
        "月度城市运行监测报告",
        "目标指标汇总",
        "环境空气质量",
        "声环境质量",
        "道路照明",
        "智慧公厕",
        "数据质量",
        "夜间声环境功能区达标率",
    ] {
        assert!(text.contains(h), "{h:?} not in the PDF's text:\n{text}");
    }
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    let _ = std::fs::remove_dir_all(&keep);
    std::fs::create_dir_all(&keep).unwrap();
    let st = Command::new("pdftoppm")
        .args(["-png", "-r", "70"])
        .arg(&pdf)
        .arg(keep.join("town-2026-10-page"))
        .status()
        .expect("pdftoppm");
    assert!(st.success());
    let pages = std::fs::read_dir(&keep).unwrap().count();
    assert!(pages >= 2, "{pages} page images");
    for ext in ["pdf", "html", "xlsx", "csv"] {
        std::fs::copy(
            stem.with_extension(ext),
            keep.join(format!("town-2026-10.{ext}")),
        )
        .unwrap();
    }
    // The input too, for timing a release build over it (docs/reports.md).
    std::fs::copy(&input, keep.join("october.ndjson")).unwrap();
    std::fs::copy(&config, keep.join("town.toml")).unwrap();

    // The HTML draws its charts: targets, the AQI calendar, the nights, the toilet map.
    let html = std::fs::read_to_string(stem.with_extension("html")).unwrap();
    for chart in ["指标与目标", "每日 AQI 日历", "夜间逐日达标", "公厕位置图"] {
        assert!(
            html.contains(&format!("aria-label='{chart}'")),
            "no {chart} chart"
        );
    }

    // XLSX through an independent reader: the same numbers as the engine's JSON.
    let wb = openpyxl(&stem.with_extension("xlsx"));
    let summary = wb["概要"].as_array().unwrap();
    assert_eq!(summary[0][1], "metric");
    let mut compared = 0;
    for row in &summary[1..] {
        let metric = row[1].as_str().unwrap();
        let got = row[2].as_f64();
        assert_eq!(got, month(metric), "{metric}: XLSX {got:?}");
        compared += 1;
    }
    assert!(compared >= 8, "{compared} figures");
    let site_days: Vec<(String, Option<i64>)> = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["site"] == "town" && d["date"].as_str().unwrap().starts_with("2026-10"))
        .filter_map(|d| {
            let a = d["air"]
                .as_array()?
                .iter()
                .find(|a| a["device"] == "_site")?;
            Some((
                d["date"].as_str().unwrap().to_string(),
                a["aqi"]["aqi"].as_i64(),
            ))
        })
        .collect();
    let air: Vec<(String, Option<i64>)> = wb["空气"].as_array().unwrap()[1..]
        .iter()
        .filter(|r| r[1] == "_site")
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[2].as_f64().map(|x| x as i64),
            )
        })
        .collect();
    assert_eq!(air.len(), 31, "{air:?}");
    assert_eq!(air, site_days);

    // Data quality per device: n3's days with results and valid days (day and night both
    // valid) as the engine has them.
    let n3: Vec<&Value> = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["date"].as_str().unwrap().starts_with("2026-10"))
        .filter_map(|d| d["noise"].as_array()?.iter().find(|n| n["device"] == "n3"))
        .collect();
    let valid = n3
        .iter()
        .filter(|n| n["day"]["valid"] == true && n["night"]["valid"] == true)
        .count();
    let quality = wb["数据质量"].as_array().unwrap();
    let row = quality
        .iter()
        .find(|r| r[0] == "n3")
        .unwrap_or_else(|| panic!("n3 not in {quality:?}"));
    assert_eq!(row[1], "noise");
    assert_eq!(row[2].as_f64(), Some(n3.len() as f64), "{row:?}");
    assert_eq!(row[3].as_f64(), Some(valid as f64), "{row:?}");
    assert!(
        valid < n3.len(),
        "the generated month has invalid nights for n3"
    );

    // CSV: a row per device, day and metric; n3's Ln on 5 October as the engine has it.
    let csv = std::fs::read_to_string(stem.with_extension("csv")).unwrap();
    assert!(csv.starts_with("date,site,device,kind,metric,value,unit\r\n"));
    let ln = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == "2026-10-05")
        .and_then(|d| {
            d["noise"]
                .as_array()?
                .iter()
                .find(|n| n["device"] == "n3")
                .cloned()
        })
        .map(|n| n["night"]["leq"].as_f64().unwrap())
        .unwrap();
    let row = format!("2026-10-05,town,n3,noise,ln,{ln},dB(A)\r\n");
    assert!(csv.contains(&row), "{row:?} not in the CSV");

    // Reports in the data directory are listed and downloaded through the API.
    let mq = crate::util::Mosquitto::start();
    let gw = dir.path().join("gw");
    let kept = gw.join("data/reports");
    std::fs::create_dir_all(&kept).unwrap();
    for ext in ["pdf", "xlsx"] {
        std::fs::copy(
            stem.with_extension(ext),
            kept.join(format!("town-2026-10.{ext}")),
        )
        .unwrap();
    }
    std::fs::write(kept.join("notes.txt"), "not a report").unwrap();
    let m = crate::util::Meilid::spawn(
        &gw,
        &format!(
            "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-reports\"\n",
            mq.url()
        ),
    );
    let base = format!("http://127.0.0.1:{}", m.http);
    let (status, body) = crate::util::http_get(&format!("{base}/api/v1/reports")).unwrap();
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<&str> = listed["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["town-2026-10.pdf", "town-2026-10.xlsx"], "{listed}");
    let pdf_bytes = std::fs::read(stem.with_extension("pdf")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (kind, got) = rt.block_on(async {
        let r = reqwest::get(format!("{base}/api/v1/reports/town-2026-10.pdf"))
            .await
            .unwrap();
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        (kind, r.bytes().await.unwrap().to_vec())
    });
    assert_eq!(kind, "application/pdf");
    assert_eq!(got, pdf_bytes, "the PDF byte for byte");
    for bad in ["notes.txt", "..%2Fgw%2Fmeilid.toml", "missing.pdf"] {
        let (status, _) = crate::util::http_get(&format!("{base}/api/v1/reports/{bad}")).unwrap();
        assert_eq!(status, 404, "{bad}");
    }
    drop(m);

    // English on request.
    let en = dir.path().join("en");
    report(&config, &input, &en, &["--lang", "en", "--format", "html"]);
    let html = std::fs::read_to_string(en.join("town-2026-10.html")).unwrap();
    assert!(
        html.contains("Monthly monitoring report") && html.contains("1. Targets"),
        "English report"
    );
}
