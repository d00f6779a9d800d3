use super::*;
use crate::config::{DeviceConfig, ZoneClass};

const NOW: i64 = 1_795_000_000;

fn validator() -> Validator {
    let dev = |id: &str, kind: Kind| DeviceConfig {
        id: id.into(),
        site: "town".into(),
        kind,
        lat: 23.0,
        lon: 103.0,
        name: None,
        zone_class: (kind == Kind::Noise).then_some(ZoneClass::C1),
        area_km2: None,
        road_class: None,
        toilet_class: None,
        period_secs: None,
        opening_hours: None,
        facilities: Vec::new(),
        modbus: None,
    };
    let reg = Registry::new([dev("n1", Kind::Noise), dev("a1", Kind::Air)]);
    Validator::new(Arc::new(reg), "meili/v1", ValidateConfig::default())
}

fn run(topic: &str, payload: &str) -> (Vec<Record>, Vec<Reason>) {
    let v = validator();
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    match v.route(topic.as_bytes()) {
        Ok((dev, Channel::Telemetry)) => {
            v.telemetry(dev, payload.as_bytes(), NOW, &mut out, &mut |r| {
                rejected.push(r.reason)
            })
        }
        Ok((_, Channel::Status)) => {
            if let Err(r) = v.status(payload.as_bytes()) {
                rejected.push(r.reason)
            }
        }
        Err(r) => rejected.push(r.reason),
    }
    (out, rejected)
}

const T: &str = "meili/v1/town/noise/n1/telemetry";

fn ok(ts: i64) -> String {
    format!(r#"{{"v":1,"seq":1,"ts":{ts},"period_s":60,"laeq":55.5}}"#)
}

#[test]
fn accepts_valid_object_and_array() {
    let (out, rej) = run(T, &ok(NOW));
    assert_eq!((out.len(), rej.len()), (1, 0));
    assert_eq!(out[0].reading.laeq, Some(55.5));
    let (out, rej) = run(T, &format!("[{},{}]", ok(NOW - 60), ok(NOW)));
    assert_eq!((out.len(), rej.len()), (2, 0));
}

#[test]
fn every_rejection_class() {
    let cases: &[(&str, String, Reason)] = &[
        (T, "{\"v\":1,".into(), Reason::MalformedJson),
        (T, "hello".into(), Reason::MalformedJson),
        (T, "[1]".into(), Reason::MalformedJson),
        (
            T,
            r#"{"v":2,"seq":1,"ts":1795000000,"period_s":60,"laeq":50}"#.into(),
            Reason::UnsupportedVersion,
        ),
        (
            T,
            r#"{"v":1,"ts":1795000000,"period_s":60,"laeq":50}"#.into(),
            Reason::MissingField,
        ),
        (
            T,
            r#"{"v":1,"seq":1,"ts":1795000000,"period_s":60}"#.into(),
            Reason::MissingField,
        ),
        (
            T,
            r#"{"v":1,"seq":1,"ts":1795000000,"period_s":60,"laeq":"loud"}"#.into(),
            Reason::InvalidField,
        ),
        (
            T,
            r#"{"v":1,"seq":-1,"ts":1795000000,"period_s":60,"laeq":50}"#.into(),
            Reason::InvalidField,
        ),
        (
            "meili/v1/Town/noise/n1/telemetry",
            ok(NOW),
            Reason::BadTopic,
        ),
        (
            "meili/v1/town/radio/n1/telemetry",
            ok(NOW),
            Reason::BadTopic,
        ),
        (
            "meili/v1/town/noise/n1/extra/telemetry",
            ok(NOW),
            Reason::BadTopic,
        ),
        ("other/town/noise/n1/telemetry", ok(NOW), Reason::BadTopic),
        (
            "meili/v1/town/noise/zz/telemetry",
            ok(NOW),
            Reason::UnknownDevice,
        ),
        (
            "meili/v1/village/noise/n1/telemetry",
            ok(NOW),
            Reason::UnknownDevice,
        ),
        (
            "meili/v1/town/air/n1/telemetry",
            ok(NOW),
            Reason::KindMismatch,
        ),
        (
            T,
            r#"{"v":1,"seq":1,"ts":1795000000,"period_s":60,"laeq":50,"pm2_5":30}"#.into(),
            Reason::KindMismatch,
        ),
        (
            T,
            r#"{"v":1,"seq":1,"ts":1795000000,"period_s":60,"laeq":250}"#.into(),
            Reason::OutOfRange,
        ),
        (T, ok(NOW + 301), Reason::TimestampFuture),
        (T, ok(NOW - 31 * 24 * 3600), Reason::TimestampPast),
    ];
    for (topic, payload, reason) in cases {
        let (out, rej) = run(topic, payload);
        assert!(out.is_empty(), "{topic} {payload} accepted");
        assert_eq!(rej, vec![*reason], "{topic} {payload}");
    }
}

#[test]
fn boundaries_are_accepted() {
    assert_eq!(run(T, &ok(NOW + 300)).1, vec![]);
    assert_eq!(run(T, &ok(NOW - 30 * 24 * 3600)).1, vec![]);
}

#[test]
fn array_keeps_good_elements() {
    let bad = r#"{"v":1,"seq":2,"ts":1795000000,"period_s":60,"laeq":999}"#;
    let (out, rej) = run(T, &format!("[{},{bad},{}]", ok(NOW), ok(NOW - 60)));
    assert_eq!(out.len(), 2);
    assert_eq!(rej, vec![Reason::OutOfRange]);
}

#[test]
fn status_messages() {
    let s = "meili/v1/town/noise/n1/status";
    assert_eq!(run(s, r#"{"v":1,"online":false}"#).1, vec![]);
    assert_eq!(run(s, r#"{"v":1}"#).1, vec![Reason::MissingField]);
    assert_eq!(run(s, "x").1, vec![Reason::MalformedJson]);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str =
        r#"{"v":1,"seq":3,"ts":1794999000,"period_s":60,"laeq":55.2,"lamax":70.1,"lamin":40.0}"#;

    #[derive(Debug, Clone)]
    enum Edit {
        Flip(usize, u8),
        Cut(usize),
        Insert(usize, u8),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
            any::<usize>().prop_map(Edit::Cut),
            (
                any::<usize>(),
                prop::sample::select(b"{}[],:\"0.e-9nt \\".to_vec())
            )
                .prop_map(|(i, b)| Edit::Insert(i, b)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        /// The payload decoder on valid payloads (one reading or arrays) with random edits:
        /// never panics, every message has an outcome, every accepted reading is in range.
        #[test]
        fn mutated_payloads_are_accepted_or_rejected_never_lost(
            n in 1usize..5,
            array in any::<bool>(),
            edits in prop::collection::vec(edit(), 0..6),
        ) {
            let mut p: Vec<u8> = if array {
                format!("[{}]", vec![GOOD; n].join(",")).into_bytes()
            } else {
                GOOD.as_bytes().to_vec()
            };
            for e in edits {
                match e {
                    Edit::Flip(i, b) if !p.is_empty() => { let i = i % p.len(); p[i] ^= b; }
                    Edit::Cut(i) if !p.is_empty() => p.truncate(i % p.len()),
                    Edit::Insert(i, b) => { let i = i % (p.len() + 1); p.insert(i, b); }
                    _ => {}
                }
            }
            let v = validator();
            let (dev, _) = v.route(b"meili/v1/town/noise/n1/telemetry").unwrap();
            let mut out = Vec::new();
            let mut rejected = 0usize;
            v.telemetry(dev, &p, NOW, &mut out, &mut |_| rejected += 1);
            // An empty array holds no reading: nothing to accept or reject.
            let empty = serde_json::from_slice::<Vec<serde_json::Value>>(&p).is_ok_and(|v| v.is_empty());
            prop_assert!(out.len() + rejected >= 1 || empty, "no outcome for {:?}", String::from_utf8_lossy(&p));
            for r in &out {
                prop_assert!(r.reading.check_ranges().is_ok());
            }
        }

        /// Arbitrary bytes as topic and payload: never a panic.
        #[test]
        fn random_bytes_never_panic(topic in prop::collection::vec(any::<u8>(), 0..80), payload in prop::collection::vec(any::<u8>(), 0..400)) {
            let v = validator();
            if let Ok((dev, ch)) = v.route(&topic) {
                match ch {
                    Channel::Telemetry => v.telemetry(dev, &payload, NOW, &mut Vec::new(), &mut |_| {}),
                    Channel::Status => { let _ = v.status(&payload); }
                }
            }
        }
    }
}

fn raw() -> RawMessage {
    RawMessage {
        topic: bytes::Bytes::from_static(b"meili/v1/town/noise/n1/telemetry"),
        payload: bytes::Bytes::new(),
        delivery: None,
        budget: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_commit_waits_for_more_messages_until_the_window_is_in_hand() {
    use tokio::time::Instant;
    let (tx, mut rx) = mpsc::channel(100);
    let linger = Linger {
        wait: Duration::from_millis(5),
        messages: 4,
    };
    let mut window = 4;
    // Fewer than the window: the wait runs its course and takes what arrives meanwhile.
    tx.send(raw()).await.unwrap();
    let mut msgs = vec![rx.recv().await.unwrap()];
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        tx.send(raw()).await.unwrap();
        tx
    });
    let start = Instant::now();
    linger.fill(&mut rx, &mut msgs, &mut window).await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(start.elapsed(), Duration::from_millis(5));
    assert_eq!(window, 4, "a wait that ran out keeps the configured window");

    // The whole window in hand: no wait (more cannot come before an acknowledgement). Six
    // arrived unacknowledged: the brokers allow at least six, which is the window now.
    let tx = late.await.unwrap();
    for _ in 0..6 {
        tx.send(raw()).await.unwrap();
    }
    msgs.clear();
    let start = Instant::now();
    linger.fill(&mut rx, &mut msgs, &mut window).await;
    assert_eq!(msgs.len(), 6);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(window, 6);

    // Five in hand, the learned window six: it waits; running out, it goes back.
    for _ in 0..5 {
        tx.send(raw()).await.unwrap();
    }
    msgs.clear();
    let start = Instant::now();
    linger.fill(&mut rx, &mut msgs, &mut window).await;
    assert_eq!(msgs.len(), 5);
    assert_eq!(start.elapsed(), Duration::from_millis(5));
    assert_eq!(window, 5);

    // No wait configured: nothing is awaited.
    msgs.clear();
    tx.send(raw()).await.unwrap();
    let none = Linger {
        wait: Duration::ZERO,
        messages: 4,
    };
    none.fill(&mut rx, &mut msgs, &mut window).await;
    assert!(msgs.is_empty());
}
