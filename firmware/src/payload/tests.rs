use super::*;
use proptest::prelude::*;

fn noise() -> Reading {
    Reading {
        laeq: Some(65.8),
        lamax: Some(78.2),
        lamin: Some(51.0),
        ..Reading::new(42, 1_763_900_000, 60)
    }
}

#[test]
fn golden_noise() {
    let mut buf = [0u8; 256];
    let n = encode(&noise(), &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        br#"{"v":1,"seq":42,"ts":1763900000,"period_s":60,"laeq":65.8,"lamax":78.2,"lamin":51.0}"#
    );
    assert_eq!(decode(&buf[..n]).unwrap(), noise());
}

#[test]
fn golden_streetlight_with_faults() {
    let mut faults = Vec::new();
    faults.push(Fault::LampFailure).unwrap();
    let r = Reading {
        lamp_on: Some(true),
        current_a: Some(0.0),
        energy_wh: Some(123_456_789.5),
        faults: Some(faults),
        ..Reading::new(7, 1_763_900_300, 300)
    };
    let mut buf = [0u8; 256];
    let n = encode(&r, &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        br#"{"v":1,"seq":7,"ts":1763900300,"period_s":300,"lamp_on":true,"current_a":0.0,"energy_wh":123456789.5,"faults":["lamp_failure"]}"#
    );
    assert_eq!(decode(&buf[..n]).unwrap(), r);
    assert_eq!(r.fault_bits(), 1);
}

#[test]
fn golden_batch_and_status() {
    let mut buf = [0u8; 512];
    let n = encode_batch(&[noise(), noise()], &mut buf).unwrap();
    assert_eq!(buf[0], b'[');
    assert_eq!(buf[n - 1], b']');
    let s = Status {
        v: 1,
        online: true,
        fw: Some(heapless::String::try_from("1.2.0").unwrap()),
        uptime_s: Some(3600),
        rssi_dbm: Some(-67),
        buffered: Some(0),
        reset: Some(heapless::String::try_from("watchdog").unwrap()),
        ..Status::default()
    };
    let n = encode_status(&s, &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        br#"{"v":1,"online":true,"fw":"1.2.0","uptime_s":3600,"rssi_dbm":-67,"buffered":0,"reset":"watchdog"}"#
    );
    // A calibrated noise meter says so.
    let cal = Status {
        cal_offset_db: Some(0.6),
        cal_unix: Some(1_795_000_000),
        ..s
    };
    let n = encode_status(&cal, &mut buf).unwrap();
    assert!(
        buf[..n].ends_with(br#""reset":"watchdog","cal_offset_db":0.6,"cal_unix":1795000000}"#),
        "{}",
        core::str::from_utf8(&buf[..n]).unwrap()
    );
}

#[test]
fn decode_ignores_unknown_fields_and_rejects_garbage() {
    let r =
        decode(br#"{"v":1,"seq":1,"ts":5,"period_s":60,"laeq":50.5,"future_field":[1,{"a":2}]}"#)
            .unwrap();
    assert_eq!(r.laeq, Some(50.5));
    assert_eq!(decode(b"{\"v\":1,"), Err(DecodeError));
    assert_eq!(decode(b"not json"), Err(DecodeError));
}

#[test]
fn small_buffer_is_an_error() {
    let mut buf = [0u8; 10];
    assert_eq!(encode(&noise(), &mut buf), Err(EncodeError));
}

/// Every field of the table is one `has` knows: each JSON member alone makes exactly its
/// kind (or none, for a shared field) appear in `field_kinds`.
#[test]
fn every_contract_field_is_known_with_its_kind() {
    for (name, kind) in FIELDS {
        let value = match name {
            "open" | "lamp_on" => "true",
            "faults" => "[\"lamp_failure\"]",
            _ => "1",
        };
        let json = format!(r#"{{"v":1,"seq":1,"ts":1,"period_s":60,"{name}":{value}}}"#);
        let (r, _): (Reading, _) = serde_json_core::from_str(&json).unwrap();
        assert!(r.has(name), "{name}");
        let expect = kind.map_or(0, |k| 1 << k.index());
        assert_eq!(r.field_kinds(), expect, "{name}");
        assert_eq!(field_kind(name), Some(kind));
    }
    assert_eq!(field_kind("fault"), None);
}

#[test]
fn kind_rules() {
    let n = noise();
    assert_eq!(n.foreign_kind(Kind::Noise), None);
    assert_eq!(n.foreign_kind(Kind::Air), Some(Kind::Noise));
    assert_eq!(n.missing_required(Kind::Noise), None);
    assert_eq!(n.missing_required(Kind::Streetlight), Some("lamp_on"));
    assert_eq!(
        Reading::new(1, 1, 60).missing_required(Kind::Air),
        Some("pm2_5")
    );
    assert_eq!(Reading::new(1, 1, 60).missing_required(Kind::Toilet), None);
}

#[test]
fn ranges() {
    assert!(noise().check_ranges().is_ok());
    let bad = Reading {
        laeq: Some(250.0),
        ..noise()
    };
    assert_eq!(bad.check_ranges().unwrap_err().field, "laeq");
    let bad = Reading {
        stalls: Some(2),
        occupied: Some(3),
        ..Reading::new(1, 1, 60)
    };
    assert_eq!(bad.check_ranges().unwrap_err().field, "occupied");
    let edge = Reading {
        rh_pct: Some(100.0),
        temp_c: Some(-60.0),
        ..Reading::new(1, 1, 60)
    };
    assert!(edge.check_ranges().is_ok());
}

fn opt<T: core::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    proptest::option::of(s)
}

fn finite() -> impl Strategy<Value = f32> {
    prop::num::f32::NORMAL | prop::num::f32::ZERO | prop::num::f32::SUBNORMAL
}

prop_compose! {
    fn arb_reading()(
        head in (any::<u32>(), any::<i64>(), any::<u32>()),
        noise in (opt(finite()), opt(finite()), opt(finite())),
        air in (opt(finite()), opt(finite()), opt(finite()), opt(finite()), opt(finite()), opt(finite()), opt(finite()), opt(finite())),
        toilet in (opt(any::<u16>()), opt(any::<u16>()), opt(any::<u32>()), opt(any::<bool>()), opt(finite()), opt(finite())),
        light in (opt(any::<bool>()), opt(finite()), opt(finite()), opt(finite()), opt(finite()), opt(prop::num::f64::NORMAL)),
        faults in opt(prop::collection::vec(prop::sample::select(Fault::ALL.to_vec()), 0..=MAX_FAULTS)),
    ) -> Reading {
        Reading {
            v: 1, seq: head.0, ts: head.1, period_s: head.2,
            laeq: noise.0, lamax: noise.1, lamin: noise.2,
            pm2_5: air.0, pm10: air.1, so2: air.2, no2: air.3, o3: air.4, co: air.5, temp_c: air.6, rh_pct: air.7,
            stalls: toilet.0, occupied: toilet.1, entries: toilet.2, open: toilet.3, nh3: toilet.4, h2s: toilet.5,
            lamp_on: light.0, dim_pct: light.1, voltage_v: light.2, current_a: light.3, power_w: light.4, energy_wh: light.5,
            faults: faults.map(|f| Vec::from_slice(&f).unwrap()),
        }
    }
}

proptest! {
    #[test]
    fn round_trip(r in arb_reading()) {
        let mut buf = [0u8; 1024];
        let n = encode(&r, &mut buf).unwrap();
        prop_assert_eq!(decode(&buf[..n]).unwrap(), r);
    }
}
