use super::*;
use proptest::prelude::*;
use std::path::PathBuf;

fn sinks(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("s{i}")).collect()
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
    let (b, rec) = Buffer::open(dir.path(), cfg(150), sinks(2)).unwrap();
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
        .find(|p| p.extension().is_some_and(|e| e == "log"))
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

fn read_all(b: &Buffer, sink: usize) -> Vec<u8> {
    let mut c = b.cursor(sink);
    let mut out = Vec::new();
    b.read(&mut c, 1000, u64::MAX, &mut out).unwrap();
    out
}

#[test]
fn a_flipped_byte_costs_exactly_its_record_and_is_counted_once() {
    let rec_len = HEADER_LEN + payload(1, 1).len();
    // In a payload, then in a header (the length field).
    for at in [2 * rec_len + HEADER_LEN + 2, 2 * rec_len + 5] {
        let (dir, seg) = five_records();
        let mut bytes = fs::read(&seg).unwrap();
        bytes[at] ^= 0x40;
        fs::write(&seg, &bytes).unwrap();
        let s = sinks(2);
        let (b, rec) = Buffer::open(dir.path(), cfg(1 << 20), s.clone()).unwrap();
        assert_eq!(rec.records, 4);
        assert!(rec.cut.is_empty());
        assert_eq!(rec.damaged.len(), 1);
        assert_eq!(
            (rec.damaged[0].1.records, rec.damaged[0].1.rows),
            (Some(1), Some(1))
        );
        for i in 0..s.len() {
            let m = b.reader_stats(i);
            let expect: Vec<u8> = [1, 2, 4, 5].iter().flat_map(|&i| payload(i, 1)).collect();
            assert_eq!(read_all(&b, i), expect);
            assert_eq!(m.rows_dropped.load(Relaxed), 1);
            assert_eq!(m.backlog_rows.load(Relaxed), 4);
        }
        assert_eq!(b.metrics.corrupt_records.load(Relaxed), 1);
        assert_eq!(b.metrics.corrupt_rows.load(Relaxed), 1);
        assert_eq!(b.metrics.corrupt_bytes.load(Relaxed), rec_len as u64);
    }
}

#[test]
fn damage_found_while_reading_is_skipped_and_counted_once_for_all_readers() {
    let dir = tempfile::tempdir().unwrap();
    let s = sinks(2);
    let (b, _) = Buffer::open(dir.path(), cfg(1 << 20), s.clone()).unwrap();
    for i in 1..=5 {
        b.append(3, &payload(i, 3)).unwrap();
    }
    let seg = segment_path(dir.path(), 1);
    let rec_len = HEADER_LEN + payload(1, 3).len();
    let mut bytes = fs::read(&seg).unwrap();
    bytes[3 * rec_len + HEADER_LEN + 7] ^= 1; // record 4 rots after the start
    fs::write(&seg, &bytes).unwrap();
    let expect: Vec<u8> = [1, 2, 3, 5].iter().flat_map(|&i| payload(i, 3)).collect();
    for i in 0..s.len() {
        let m = b.reader_stats(i);
        let mut c = b.cursor(i);
        let mut out = Vec::new();
        let r = b.read(&mut c, 1000, u64::MAX, &mut out).unwrap();
        assert_eq!(out, expect);
        b.ack(i, c.next_id, r.rows).unwrap();
        assert_eq!(m.rows_dropped.load(Relaxed), 3);
        assert_eq!(m.backlog_rows.load(Relaxed), 0, "sink {i}");
    }
    assert_eq!(b.metrics.corrupt_records.load(Relaxed), 1);
    assert_eq!(b.metrics.corrupt_rows.load(Relaxed), 3);
}

#[test]
fn an_impossible_position_keeps_the_data() {
    let (dir, _) = five_records();
    // A position past the end (as a u64::MAX in the old text file would be).
    let _ = fs::remove_file(dir.path().join("pos-s0"));
    fs::write(dir.path().join("ack-s0"), format!("{}\n", u64::MAX)).unwrap();
    let s = sinks(1);
    let (b, rec) = Buffer::open(dir.path(), cfg(1 << 20), s.clone()).unwrap();
    assert_eq!(rec.position_errors.len(), 1);
    assert_eq!(b.metrics.position_errors.load(Relaxed), 1);
    assert_eq!(
        read_all(&b, 0),
        (1..=5).flat_map(|i| payload(i, 1)).collect::<Vec<_>>()
    );
    assert_eq!(b.reader_stats(0).backlog_rows.load(Relaxed), 5);
    assert_eq!(b.append(1, &payload(6, 1)).unwrap(), 6);
    // An unreadable position file: the same.
    drop(b);
    fs::write(dir.path().join("pos-s0"), [7u8; 32]).unwrap();
    let (b, rec) = Buffer::open(dir.path(), cfg(1 << 20), sinks(1)).unwrap();
    assert_eq!(rec.position_errors.len(), 1);
    assert_eq!(b.pending_records(0), 6);
}

#[test]
fn segments_of_the_previous_format_are_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = Vec::new();
    for id in 1..=3u64 {
        let p = payload(id, 2);
        let mut h = [0u8; record::legacy::HEADER_LEN];
        h[0..4].copy_from_slice(&(p.len() as u32).to_le_bytes());
        h[8..16].copy_from_slice(&id.to_le_bytes());
        h[16..20].copy_from_slice(&2u32.to_le_bytes());
        let mut c = crc32fast::Hasher::new();
        c.update(&h[8..]);
        c.update(&p);
        h[4..8].copy_from_slice(&c.finalize().to_le_bytes());
        old.extend_from_slice(&h);
        old.extend_from_slice(&p);
    }
    fs::write(dir.path().join(format!("{:020}.seg", 1)), &old).unwrap();
    fs::write(dir.path().join("ack-s0"), "2\n").unwrap();
    let s = sinks(1);
    let (b, rec) = Buffer::open(dir.path(), cfg(1 << 20), s.clone()).unwrap();
    assert_eq!(rec.migrated_records, 3);
    assert_eq!(
        read_all(&b, 0),
        [2, 3]
            .iter()
            .flat_map(|&i| payload(i, 2))
            .collect::<Vec<_>>()
    );
    assert_eq!(b.reader_stats(0).backlog_rows.load(Relaxed), 4);
    assert_eq!(b.append(1, &payload(4, 1)).unwrap(), 4);
}

#[test]
fn reads_stop_at_the_byte_bound_but_always_take_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = Buffer::open(dir.path(), cfg(1 << 20), sinks(1)).unwrap();
    for i in 1..=4 {
        b.append(10, &payload(i, 10)).unwrap();
    }
    let one = payload(1, 10).len() as u64;
    let mut c = b.cursor(0);
    let mut out = Vec::new();
    let r = b
        .read_bounded(&mut c, 1000, one / 2, u64::MAX, &mut out)
        .unwrap();
    assert_eq!(r.records, 1);
    let r = b
        .read_bounded(&mut c, 1000, one * 2, u64::MAX, &mut Vec::new())
        .unwrap();
    assert_eq!(r.records, 2);
    assert_eq!(c.next_id, 4);
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
    assert_eq!(b.reader_stats(0).rows_dropped.load(Relaxed), 1);
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

#[derive(Debug, Clone)]
enum Harm {
    /// Flip bits at a byte of the log (offset taken modulo its length).
    Flip(u64, u8),
    /// Cut the segment holding that byte there.
    Truncate(u64),
}

fn harm() -> impl Strategy<Value = Harm> {
    prop_oneof![
        4 => (any::<u64>(), 1u8..=255).prop_map(|(o, m)| Harm::Flip(o, m)),
        1 => any::<u64>().prop_map(Harm::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    /// Fuzzing the record reader: random bit flips and truncations anywhere in the log never
    /// panic, never lose an undamaged record, and the loss counted plus the rows read never
    /// exceed what was appended (equal when the first and last records are intact).
    #[test]
    fn damage_costs_only_the_records_it_hits(
        rows in prop::collection::vec(1u32..5, 1..40),
        seg in 100u64..600,
        harms in prop::collection::vec(harm(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // (segment path, start offset, end offset) of every record, in id order.
        let mut at: Vec<(PathBuf, u64, u64)> = Vec::new();
        {
            let (b, _) = Buffer::open(dir.path(), cfg(seg), sinks(1)).unwrap();
            for (i, &r) in rows.iter().enumerate() {
                b.append(r, &payload(i as u64 + 1, r)).unwrap();
                let inner = b.lock();
                let s = inner.segments.last().unwrap();
                at.push((s.path.clone(), s.len - (HEADER_LEN + payload(i as u64 + 1, r).len()) as u64, s.len));
            }
        }
        let total: u64 = at.iter().map(|a| a.2 - a.1).sum();
        let mut hit = vec![false; rows.len()];
        // A second flip of the same byte could undo the first: each byte is flipped once.
        let mut flipped: Vec<(PathBuf, u64)> = Vec::new();
        for h in &harms {
            let (o, flip) = match *h { Harm::Flip(o, m) => (o % total, Some(m)), Harm::Truncate(o) => (o % total, None) };
            // Find the byte: records are laid out in order across segments.
            let mut left = o;
            let Some(k) = at.iter().position(|a| { let n = a.2 - a.1; if left < n { true } else { left -= n; false } }) else { continue };
            let (path, start, _) = at[k].clone();
            let off = start + left;
            let mut bytes = fs::read(&path).unwrap();
            if off as usize >= bytes.len() { continue; }
            match flip {
                Some(_) if flipped.contains(&(path.clone(), off)) => continue,
                Some(m) => { bytes[off as usize] ^= m; hit[k] = true; flipped.push((path.clone(), off)); }
                None => {
                    bytes.truncate(off as usize);
                    for (j, a) in at.iter().enumerate() { if a.0 == path && a.2 > off { hit[j] = true; } }
                }
            }
            fs::write(&path, &bytes).unwrap();
        }
        let s = sinks(1);
        let (b, _) = Buffer::open(dir.path(), cfg(seg), s.clone()).unwrap();
        let got = read_all(&b, 0);
        let expect: Vec<u8> = rows.iter().enumerate().filter(|(i, _)| !hit[*i]).flat_map(|(i, &r)| payload(i as u64 + 1, r)).collect();
        prop_assert_eq!(got, expect);
        let read: u64 = rows.iter().enumerate().filter(|(i, _)| !hit[*i]).map(|(_, &r)| u64::from(r)).sum();
        let appended: u64 = rows.iter().map(|&r| u64::from(r)).sum();
        let dropped = b.reader_stats(0).rows_dropped.load(Relaxed);
        prop_assert!(read + dropped <= appended);
        if !hit[0] && !hit[rows.len() - 1] {
            prop_assert_eq!(read + dropped, appended);
            prop_assert_eq!(b.reader_stats(0).backlog_rows.load(Relaxed), read as i64);
        }
    }
}

/// `drop_oldest` counts only what a reader had not read: rows it holds for a write are written
/// and acknowledged, and the backlog gauge ends at exactly what is left.
#[test]
fn drop_oldest_counts_each_lost_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = payload(1, 4);
    let size = (HEADER_LEN + p.len()) as u64;
    let c = BufferConfig {
        max_bytes: 4 * size,
        segment_bytes: 2 * size,
        when_full: WhenFull::DropOldest,
        ..BufferConfig::default()
    };
    let s = sinks(2);
    let (b, _) = Buffer::open(dir.path(), c, s.clone()).unwrap();
    for i in 1..=4 {
        b.append(4, &payload(i, 4)).unwrap();
    }
    // Sink 0 has read records 1 and 2 (in flight); sink 1 has read nothing.
    let mut c0 = b.cursor(0);
    let mut out = Vec::new();
    assert_eq!(b.read(&mut c0, 8, u64::MAX, &mut out).unwrap().rows, 8);
    let _c1 = b.cursor(1);
    b.append(4, &payload(5, 4)).unwrap(); // drops segment 1-2
    assert_eq!(b.reader_stats(0).rows_dropped.load(Relaxed), 0);
    assert_eq!(b.reader_stats(1).rows_dropped.load(Relaxed), 8);
    // Sink 0 writes what it held and acknowledges it.
    b.ack(0, c0.next_id, 8).unwrap();
    assert_eq!(b.reader_stats(0).backlog_rows.load(Relaxed), 12);
    assert_eq!(b.reader_stats(1).backlog_rows.load(Relaxed), 12);
    for i in 0..s.len() {
        let m = b.reader_stats(i);
        let mut c = b.cursor(i);
        let mut out = Vec::new();
        let r = b.read(&mut c, 100, u64::MAX, &mut out).unwrap();
        assert_eq!(r.rows, 12);
        b.ack(i, c.next_id, r.rows).unwrap();
        assert_eq!(m.backlog_rows.load(Relaxed), 0);
    }
}

/// Zeros are written ahead of the records while the buffer is open (so that an fsync need not
/// commit a new file size); a clean close cuts them. After a crash they are still there, and
/// opening takes them as the log's clean end, reporting nothing; a torn record in them is
/// still cut and reported.
#[test]
fn zeros_ahead_of_the_records_are_the_clean_end_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let rec_len = (HEADER_LEN + payload(1, 1).len()) as u64;
    let (seg, crashed) = {
        let (b, _) = Buffer::open(dir.path(), cfg(16 << 20), sinks(1)).unwrap();
        for i in 1..=5 {
            b.append(1, &payload(i, 1)).unwrap();
        }
        let seg = b.lock().segments.last().unwrap().path.clone();
        assert_eq!(fs::metadata(&seg).unwrap().len(), rec_len + ZERO_AHEAD);
        let crashed = fs::read(&seg).unwrap();
        drop(b);
        assert_eq!(fs::metadata(&seg).unwrap().len(), 5 * rec_len);
        (seg, crashed)
    };
    fs::write(&seg, &crashed).unwrap();
    let (b, rec) = Buffer::open(dir.path(), cfg(16 << 20), sinks(1)).unwrap();
    assert_eq!(rec.records, 5);
    assert!(rec.cut.is_empty());
    assert_eq!(fs::metadata(&seg).unwrap().len(), 5 * rec_len);
    let all: Vec<u8> = (1..=5).flat_map(|i| payload(i, 1)).collect();
    assert_eq!(read_all(&b, 0), all);
    drop(b);

    // A record torn by a power cut: its first bytes, then the zeros.
    let mut torn = crashed;
    let first = torn[..10].to_vec();
    let at = (5 * rec_len) as usize;
    torn[at..at + 10].copy_from_slice(&first);
    fs::write(&seg, &torn).unwrap();
    let (b, rec) = Buffer::open(dir.path(), cfg(16 << 20), sinks(1)).unwrap();
    assert_eq!(rec.records, 5);
    assert_eq!(rec.cut.len(), 1);
    assert_eq!(rec.cut[0].1, torn.len() as u64 - 5 * rec_len);
    assert_eq!(read_all(&b, 0), all);
}
