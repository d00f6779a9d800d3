use super::*;

fn field(toml_text: &str) -> FieldDef {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn noise_x10_register_from_domain() {
    // DOMAIN.md §8.3: reply 01 03 02 02 92 → 0x0292 = 658 → 65.8 dB.
    let f = field("field = \"laeq\"\naddress = 0\nscale = 0.1");
    assert_eq!(decode(&f, 0, &[0x0292]), Some(Value::Number(65.8)));
}

#[test]
fn thirty_two_bit_word_and_byte_orders() {
    // −12.5 f32 = 0xC148_0000; 1.0 f32 = 0x3F80_0000.
    let abcd = field("field = \"temp_c\"\naddress = 10\ntype = \"f32\"");
    assert_eq!(
        decode(&abcd, 10, &[0xC148, 0x0000]),
        Some(Value::Number(-12.5))
    );
    let cdab = field("field = \"temp_c\"\naddress = 10\ntype = \"f32\"\nword_order = \"little\"");
    assert_eq!(
        decode(&cdab, 10, &[0x0000, 0x3F80]),
        Some(Value::Number(1.0))
    );
    let badc = field("field = \"temp_c\"\naddress = 10\ntype = \"f32\"\nbyte_order = \"little\"");
    assert_eq!(
        decode(&badc, 10, &[0x803F, 0x0000]),
        Some(Value::Number(1.0))
    );
    let u32be = field("field = \"energy_wh\"\naddress = 0\ntype = \"u32\"");
    assert_eq!(
        decode(&u32be, 0, &[0x0001, 0x0002]),
        Some(Value::Number(65538.0))
    );
    let i32le =
        field("field = \"energy_wh\"\naddress = 0\ntype = \"i32\"\nword_order = \"little\"");
    assert_eq!(
        decode(&i32le, 0, &[0xFFFE, 0xFFFF]),
        Some(Value::Number(-2.0))
    );
}

#[test]
fn signed_and_scaled() {
    // CWT station: temperature ×10, signed: 0xFF9C = −100 → −10.0 °C.
    let t = field("field = \"temp_c\"\naddress = 505\ntype = \"i16\"\nscale = 0.1");
    assert_eq!(
        decode(&t, 500, &[0, 0, 0, 0, 0, 0xFF9C]),
        Some(Value::Number(-10.0))
    );
    let off = field("field = \"temp_c\"\naddress = 0\nscale = 0.01\noffset = -40");
    assert_eq!(decode(&off, 0, &[6500]), Some(Value::Number(25.0)));
    let b = field("field = \"lamp_on\"\naddress = 0\ntype = \"bool\"");
    assert_eq!(decode(&b, 0, &[2]), Some(Value::Bool(true)));
    assert_eq!(decode(&t, 500, &[0, 0]), None, "register outside the block");
}

#[test]
fn adjacent_registers_share_a_request() {
    let map = RegisterMap::parse(
        r#"
model = "cwt"
kind = "air"
[[fields]]
field = "pm2_5"
address = 507
[[fields]]
field = "temp_c"
address = 505
type = "i16"
[[fields]]
field = "pm10"
address = 508
[[fields]]
field = "rh_pct"
address = 504
[[fields]]
field = "co"
address = 520
function = "input"
"#,
    )
    .unwrap();
    let blocks = map.blocks();
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    assert_eq!((blocks[0].address, blocks[0].count), (504, 2));
    assert_eq!((blocks[1].address, blocks[1].count), (507, 2));
    assert_eq!(blocks[2].function, Function::Input);
    let with_gap = RegisterMap {
        max_gap_registers: 1,
        ..map
    };
    let b = with_gap.blocks();
    assert_eq!((b[0].address, b[0].count, b[0].fields.len()), (504, 5, 4));
}

#[test]
fn map_errors_name_line_and_key() {
    let errors = RegisterMap::parse(
        r#"model = "bad"
kind = "noise"
[[fields]]
field = "laeq"
address = 0
type = "u32"
[[fields]]
field = "lamax"
address = 1
[[fields]]
field = "pm2_5"
address = 5
[[fields]]
field = "loudness"
address = 9
"#,
    )
    .unwrap_err();
    let keys: Vec<_> = errors
        .iter()
        .map(|e| (e.0, e.1.as_str(), e.2.as_str()))
        .collect();
    assert!(
        keys.contains(&(
            7,
            "fields[1] (field \"lamax\").address",
            "overlaps field \"laeq\""
        )),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.1 == "fields[2] (field \"pm2_5\").field"),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.1 == "fields[3] (field \"loudness\").field"),
        "{keys:?}"
    );
    let unknown = RegisterMap::parse("model = \"x\"\nkind = \"noise\"\nbaud = 9600\nfields = []\n")
        .unwrap_err();
    assert!(unknown[0].2.contains("baud"), "{unknown:?}");
}

#[test]
fn shipped_maps_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            let map =
                RegisterMap::load(&path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert!(!map.blocks().is_empty(), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 5, "{n} maps");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn shipped() -> Vec<RegisterMap> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus");
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| RegisterMap::load(&e.unwrap().path()).unwrap())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
        /// Whatever registers a device answers with (any values, too few of them): decoding
        /// every field of every shipped map never panics and yields a finite number or nothing.
        #[test]
        fn any_register_values_decode_to_finite_numbers_or_nothing(
            words in prop::collection::vec(any::<u16>(), 0..130),
        ) {
            for map in shipped() {
                for block in map.blocks() {
                    let got = &words[..words.len().min(usize::from(block.count))];
                    for &i in &block.fields {
                        match decode(map.fields[i].get_ref(), block.address, got) {
                            Some(Value::Number(v)) => prop_assert!(v.is_finite()),
                            Some(Value::Bool(_)) | None => {}
                        }
                    }
                }
            }
        }
    }
}

/// The firmware's register maps (what a Meili device answers over RS-485) and the gateway's
/// map files (configs/modbus/meili-*.toml) agree on every field: a reading encoded by the
/// firmware decodes to the same values with the file.
#[test]
fn firmware_registers_match_the_map_files() {
    use meili_firmware::modbus::maps::input_registers;
    use meili_firmware::payload::{Fault, Kind};
    use meili_firmware::Reading;
    let mut r = Reading::new(7, 0, 60);
    (r.laeq, r.lamax, r.lamin) = (Some(55.3), Some(71.2), Some(40.5));
    (r.pm2_5, r.pm10, r.temp_c, r.rh_pct) = (Some(35.0), Some(61.5), Some(-4.25), Some(80.0));
    (r.stalls, r.occupied, r.entries, r.open) = (Some(8), Some(3), Some(70_123), Some(true));
    (r.nh3, r.h2s) = (Some(0.75), Some(0.02));
    (r.lamp_on, r.dim_pct, r.voltage_v, r.current_a) =
        (Some(true), Some(40.0), Some(229.7), Some(0.412));
    (r.power_w, r.energy_wh) = (Some(92.5), Some(123_456.0));
    r.faults = Some(heapless::Vec::from_slice(&[Fault::DriverFailure]).unwrap());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus");
    let expected: &[(&str, f64)] = &[
        ("laeq", 55.3),
        ("lamax", 71.2),
        ("lamin", 40.5),
        ("pm2_5", 35.0),
        ("pm10", 61.5),
        ("temp_c", -4.25),
        ("rh_pct", 80.0),
        ("stalls", 8.0),
        ("occupied", 3.0),
        ("entries", 70_123.0),
        ("open", 1.0),
        ("nh3", 0.75),
        ("h2s", 0.02),
        ("lamp_on", 1.0),
        ("dim_pct", 40.0),
        ("voltage_v", 229.7),
        ("current_a", 0.412),
        ("power_w", 92.5),
        ("energy_wh", 123_456.0),
        ("fault", 2.0),
    ];
    for (kind, file) in [
        (Kind::Noise, "meili-noise.toml"),
        (Kind::Air, "meili-air.toml"),
        (Kind::Toilet, "meili-toilet.toml"),
        (Kind::Streetlight, "meili-streetlight.toml"),
    ] {
        let map = RegisterMap::load(&dir.join(file)).unwrap();
        let bank = input_registers(kind, &r);
        assert!(!map.fields.is_empty());
        for f in &map.fields {
            let f = f.get_ref();
            assert_eq!(f.function, Function::Input, "{file} {}", f.field);
            let got = match decode(f, 0, &bank.0) {
                Some(Value::Number(x)) => x,
                Some(Value::Bool(b)) => f64::from(u8::from(b)),
                None => panic!("{file} {}: no value", f.field),
            };
            let want = expected
                .iter()
                .find(|(n, _)| *n == f.field)
                .unwrap_or_else(|| panic!("{file}: field {} not in this test", f.field))
                .1;
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "{file} {}: {got} decoded, {want} encoded",
                f.field
            );
        }
    }
    // A reading without values decodes to nothing the gateway would record as a number.
    let empty = input_registers(Kind::Noise, &Reading::new(0, 0, 60));
    let noise = RegisterMap::load(&dir.join("meili-noise.toml")).unwrap();
    assert!(noise
        .fields
        .iter()
        .all(|f| decode(f.get_ref(), 0, &empty.0).is_none()));
}
