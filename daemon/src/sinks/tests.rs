//! The sink task against a real disk buffer and the file writer.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::buffer::BufferConfig;
use crate::config::FileSinkConfig;

fn file_sink(dir: &std::path::Path, max_rows: usize, live_share_pct: u8) -> Sink {
    let cfg = FileSinkConfig {
        name: None,
        path: "out.lp".into(),
        max_file_bytes: 1 << 30,
        keep_files: 1,
        seq_and_period_fields: false,
        batch: BatchConfig::default(),
    };
    let batch = BatchConfig {
        max_rows,
        max_delay_ms: 1,
        live_share_pct,
        ..BatchConfig::default()
    };
    Sink::new(
        Writer::File(file::FileWriter::new(&cfg, dir)),
        batch,
        "file",
    )
}

fn open_buffer(dir: &std::path::Path, sink: &Sink) -> Arc<Buffer> {
    let readers = vec![sink.name().to_string()];
    let (buffer, _) = Buffer::open(&dir.join("buffer"), BufferConfig::default(), readers).unwrap();
    Arc::new(buffer)
}

fn line(kind: &str, i: u64) -> Vec<u8> {
    format!("m,k={kind} v={i} {i}\n").into_bytes()
}

/// A backlog drains in order while live readings get their share of every batch: the first
/// live reading is written long before the last backlog reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_readings_are_not_held_behind_a_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let sink = file_sink(dir.path(), 10, 50);
    let buffer = open_buffer(dir.path(), &sink);
    for i in 0..3000 {
        buffer.append(1, &line("backlog", i)).unwrap();
    }
    let ctl = SinkControl {
        stop: CancellationToken::new(),
        abort: CancellationToken::new(),
    };
    let task = tokio::spawn(sink.run(0, Arc::clone(&buffer), ctl.clone()));
    let out = dir.path().join("out.lp");
    // Live readings arrive once draining has begun.
    while std::fs::metadata(&out).map_or(0, |m| m.len()) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for i in 0..5 {
        buffer.append(1, &line("live", i)).unwrap();
    }
    while buffer.reader_stats(0).backlog() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ctl.stop.cancel();
    task.await.unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3005);
    let backlog: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("backlog"))
        .collect();
    let expected: Vec<String> = (0..3000)
        .map(|i| format!("m,k=backlog v={i} {i}"))
        .collect();
    assert_eq!(backlog, expected, "the backlog is written in order");
    let first_live = lines.iter().position(|l| l.contains("live")).unwrap();
    let last_backlog = lines.iter().rposition(|l| l.contains("backlog")).unwrap();
    assert!(
        first_live < last_backlog / 2,
        "live at {first_live}, backlog done at {last_backlog}"
    );
    // Everything is written: the position is at the end, nothing is pending.
    assert_eq!(buffer.pending_records(0), 0);
}

/// With live_share_pct = 0 the log is written strictly in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_live_share_writes_strictly_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = file_sink(dir.path(), 10, 0);
    let buffer = open_buffer(dir.path(), &sink);
    for i in 0..300 {
        buffer.append(1, &line("a", i)).unwrap();
    }
    let ctl = SinkControl {
        stop: CancellationToken::new(),
        abort: CancellationToken::new(),
    };
    let task = tokio::spawn(sink.run(0, Arc::clone(&buffer), ctl.clone()));
    for i in 300..320 {
        buffer.append(1, &line("a", i)).unwrap();
    }
    while buffer.reader_stats(0).backlog() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ctl.stop.cancel();
    task.await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("out.lp")).unwrap();
    let expected: String = (0..320).map(|i| format!("m,k=a v={i} {i}\n")).collect();
    assert_eq!(text, expected);
}

/// After a full batch, what is left is written as soon as the log stays still: the end of a
/// burst does not wait out `max_delay_ms`. At a slower pace batches still fill by time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_a_burst_is_written_without_waiting_for_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = file_sink(dir.path(), 10, 0);
    sink.batch.max_delay_ms = 3_000;
    let buffer = open_buffer(dir.path(), &sink);
    let ctl = SinkControl {
        stop: CancellationToken::new(),
        abort: CancellationToken::new(),
    };
    for i in 0..25 {
        buffer.append(1, &line("a", i)).unwrap();
    }
    let start = tokio::time::Instant::now();
    let task = tokio::spawn(sink.run(0, Arc::clone(&buffer), ctl.clone()));
    let out = dir.path().join("out.lp");
    let lines = || std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
    while lines() < 25 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        start.elapsed() < Duration::from_millis(3_000),
        "the last 5 rows waited for max_delay_ms"
    );
    // Not a burst any more: the next rows wait for the delay, written together.
    for i in 25..28 {
        buffer.append(1, &line("a", i)).unwrap();
    }
    let appended = tokio::time::Instant::now();
    while lines() < 28 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(appended.elapsed() >= Duration::from_millis(2_900));
    ctl.stop.cancel();
    task.await.unwrap();
}
