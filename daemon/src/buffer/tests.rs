use super::*;
use proptest::prelude::*;

fn sinks(n: usize) -> Vec<(String, Arc<SinkMetrics>)> {
    (0..n)
        .map(|i| (format!("s{i}"), Arc::new(SinkMetrics::default())))
        .collect()
}

fn cfg(segment_bytes: u64) -> BufferConfig {
    BufferConfig {
        segment_bytes,
        ..BufferConfig::default()
    }
}

fn payload(id: u64, rows: u32) -> Vec<u8> {
    (0..rows)
        .flat_map(|r| format!("m,d=x v={id}.{r} {id}\n").into_bytes())
        .collect()
}

#[test]
fn append_read_ack_deletes_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (b, rec) = Buffer::open(dir.path(), cfg(120), sinks(2)).unwrap();
    assert_eq!(rec, Recovery::default());
    for i in 1..=10 {
        assert_eq!(b.append(2, &payload(i, 2)).unwrap(), i);
    }
    assert!(b.metrics.segments.load(Relaxed) > 2);
    let mut c0 = b.cursor(0);
    let mut out = Vec::new();
    let r = b.read(&mut c0, 1000, u64::MAX, &mut out).unwrap();
    assert_eq!((r.records, r.rows), (10, 20));
    let expected: Vec<u8> = (1..=10).flat_map(|i| payload(i, 2)).collect();
    assert_eq!(out, expected);
    b.ack(0, c0.next_id, 20).unwrap();
    // Sink 1 has not written anything: nothing may be deleted.
    assert_eq!(
        b.metrics.bytes.load(Relaxed),
        expected.len() as u64 + 10 * HEADER_LEN as u64
    );
    let (bytes, segments) = (
        b.metrics.bytes.load(Relaxed),
        b.metrics.segments.load(Relaxed),
    );
    let mut c1 = b.cursor(1);
    let mut out1 = Vec::new();
    assert_eq!(b.read(&mut c1, 5, u64::MAX, &mut out1).unwrap().records, 3);
    b.ack(1, c1.next_id, 6).unwrap();
    // Two records per segment: the first segment (ids 1-2) is now written by both sinks.
    let one = payload(1, 2).len() as u64 + HEADER_LEN as u64;
    assert_eq!(b.metrics.bytes.load(Relaxed), bytes - 2 * one);
    assert_eq!(b.metrics.segments.load(Relaxed), segments - 1);
    assert_eq!(b.pending_records(1), 7);
}

/// A closed buffer holding records 1–5 (one row each) in one segment, and that segment's path.
fn five_records() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    {
        let (b, _) = Buffer::open(dir.path(), cfg(1 << 20), sinks(1)).unwrap();
        for i in 1..=5 {
            b.append(1, &payload(i, 1)).unwrap();
        }
    }
    let seg = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    (dir, seg)
}

#[test]
fn torn_tail_is_cut_and_reported() {
    let (dir, seg) = five_records();
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let (b, rec) = Buffer::open(dir.path(), cfg(1 << 20), sinks(1)).unwrap();
    assert_eq!(rec.records, 4);
    assert_eq!(rec.cut.len(), 1);
    assert_eq!(rec.cut[0].1, (HEADER_LEN + payload(5, 1).len() - 3) as u64);
    let mut c = b.cursor(0);
    let mut out = Vec::new();
    b.read(&mut c, 100, u64::MAX, &mut out).unwrap();
    assert_eq!(out, (1..=4).flat_map(|i| payload(i, 1)).collect::<Vec<_>>());
    // New appends continue after the kept records, with fresh ids.
    assert_eq!(b.append(1, &payload(9, 1)).unwrap(), 5);
}

#[test]
fn corrupt_byte_cuts_from_that_record() {
    let (dir, seg) = five_records();
    let mut bytes = fs::read(&seg).unwrap();
    let rec_len = HEADER_LEN + payload(1, 1).len();
    bytes[2 * rec_len + HEADER_LEN + 2] ^= 0x40; // inside record 3's payload
    fs::write(&seg, &bytes).unwrap();
    let (_, rec) = Buffer::open(dir.path(), cfg(1 << 20), sinks(1)).unwrap();
    assert_eq!(rec.records, 2);
    assert_eq!(rec.cut[0].1, 3 * rec_len as u64);
}

#[test]
fn block_when_full_and_drop_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(1, 1);
    let size = (HEADER_LEN + p.len()) as u64;
    let c = BufferConfig {
        max_bytes: 4 * size,
        segment_bytes: size,
        ..BufferConfig::default()
    };
    let (b, _) = Buffer::open(dir.path(), c.clone(), sinks(1)).unwrap();
    for _ in 0..4 {
        b.append(1, &p).unwrap();
    }
    assert!(matches!(b.append(1, &p), Err(BufferError::Full { .. })));
    assert_eq!(b.metrics.full_refusals.load(Relaxed), 1);
    drop(b);
    let s = sinks(1);
    let m = Arc::clone(&s[0].1);
    let (b, _) = Buffer::open(
        dir.path(),
        BufferConfig {
            when_full: WhenFull::DropOldest,
            ..c
        },
        s,
    )
    .unwrap();
    assert_eq!(b.append(1, &p).unwrap(), 5);
    assert_eq!(m.rows_dropped.load(Relaxed), 1);
    let mut cur = b.cursor(0);
    let mut out = Vec::new();
    assert_eq!(
        b.read(&mut cur, 100, u64::MAX, &mut out).unwrap().records,
        4
    );
}

#[test]
fn ack_survives_reopen_and_ids_never_repeat() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (b, _) = Buffer::open(dir.path(), cfg(100), sinks(1)).unwrap();
        for i in 1..=3 {
            b.append(1, &payload(i, 1)).unwrap();
        }
        let mut c = b.cursor(0);
        b.read(&mut c, 100, u64::MAX, &mut Vec::new()).unwrap();
        b.ack(0, c.next_id, 3).unwrap();
    }
    let (b, rec) = Buffer::open(dir.path(), cfg(100), sinks(1)).unwrap();
    assert_eq!(b.pending_records(0), 0);
    assert!(
        rec.records <= 1,
        "fully acknowledged segments are gone: {rec:?}"
    );
    assert_eq!(b.append(1, &payload(4, 1)).unwrap(), 4);
}

#[derive(Debug, Clone)]
enum Action {
    Append(u32),
    Read(usize, u64),
    Ack(usize),
    Reopen,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (1u32..5).prop_map(Action::Append),
        3 => (0usize..2, 1u64..8).prop_map(|(s, n)| Action::Read(s, n)),
        2 => (0usize..2).prop_map(Action::Ack),
        1 => Just(Action::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// The buffer against an in-memory model: what each sink reads, in order, after any
    /// sequence of appends, reads, acks and reopenings.
    #[test]
    fn model_check(actions in prop::collection::vec(action(), 1..80), seg in 60u64..400) {
        let dir = tempfile::tempdir().unwrap();
        let open = || Buffer::open(dir.path(), cfg(seg), sinks(2)).unwrap().0;
        let mut b = open();
        // Model: every record (id, rows); per sink the acked id and the read-but-unacked position.
        let mut log: Vec<(u64, u32)> = Vec::new();
        let mut acked = [1u64; 2];
        let mut cursors = [b.cursor(0), b.cursor(1)];
        let mut read_to = [1u64; 2];
        let mut unacked_rows = [0u64; 2];
        for a in actions {
            match a {
                Action::Append(rows) => {
                    let id = b.append(rows, &payload(log.len() as u64 + 1, rows)).unwrap();
                    log.push((id, rows));
                    prop_assert_eq!(id, log.len() as u64);
                }
                Action::Read(s, max) => {
                    let mut out = Vec::new();
                    let r = b.read(&mut cursors[s], max, u64::MAX, &mut out).unwrap();
                    let mut expect = Vec::new();
                    let (mut rows, mut n) = (0u64, 0u64);
                    for &(id, rr) in log.iter().filter(|(id, _)| *id >= read_to[s]) {
                        if rows >= max { break; }
                        expect.extend(payload(id, rr));
                        rows += u64::from(rr);
                        n += 1;
                    }
                    prop_assert_eq!(out, expect);
                    prop_assert_eq!((r.records, r.rows), (n, rows));
                    read_to[s] += n;
                    unacked_rows[s] += rows;
                }
                Action::Ack(s) => {
                    b.ack(s, cursors[s].next_id, unacked_rows[s]).unwrap();
                    acked[s] = read_to[s];
                    unacked_rows[s] = 0;
                }
                Action::Reopen => {
                    drop(cursors);
                    drop(b);
                    b = open();
                    cursors = [b.cursor(0), b.cursor(1)];
                    read_to = acked;
                    unacked_rows = [0, 0];
                }
            }
            for (s, a) in acked.iter().enumerate() {
                prop_assert_eq!(b.pending_records(s), log.len() as u64 + 1 - a);
            }
        }
    }
}
