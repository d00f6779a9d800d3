//! Register maps: one TOML file per device model (`configs/modbus/*.toml`) saying which
//! registers hold which contract field and how to decode them. See `docs/modbus.md`.

use std::path::Path;

use crate::lines::line_of;
use serde::Deserialize;
use toml::Spanned;

/// Modbus function used to read a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    /// 0x03 read holding registers.
    Holding,
    /// 0x04 read input registers.
    Input,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    U16,
    I16,
    U32,
    I32,
    F32,
    /// Any non-zero register value is true.
    Bool,
}

impl DataType {
    pub const fn words(self) -> u16 {
        match self {
            DataType::U16 | DataType::I16 | DataType::Bool => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
        }
    }
}

/// Order of the two registers of a 32-bit value, or of the two bytes in a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// High first (Modbus convention: "ABCD").
    #[default]
    Big,
    /// Low first (word-swapped "CDAB", or byte-swapped "BA").
    Little,
}

/// The kind of a contract field a register can feed (CONTRACT §2, from
/// [`meili_firmware::payload::FIELDS`]): `None` if no register can feed it, `Some(None)` for
/// a shared one. Registers carry the lamp's faults as one bitmask, `fault` (1 lamp_failure,
/// 2 driver_failure, 4 power_failure, 8 comm_failure), not as the `faults` list.
pub fn register_field_kind(name: &str) -> Option<Option<meili_firmware::Kind>> {
    match name {
        "fault" => Some(Some(meili_firmware::Kind::Streetlight)),
        "faults" => None,
        n => meili_firmware::payload::field_kind(n),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The contract field this register feeds.
    pub field: String,
    /// Register address as sent on the wire (0-based; vendor manuals that count from 1 need −1).
    pub address: u16,
    #[serde(default = "default_function")]
    pub function: Function,
    #[serde(rename = "type", default = "default_type")]
    pub data_type: DataType,
    #[serde(default)]
    pub word_order: Order,
    #[serde(default)]
    pub byte_order: Order,
    /// value = raw × scale + offset.
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    pub unit: Option<String>,
    /// Values outside `[min, max]` are dropped (and counted) instead of published.
    pub min: Option<f64>,
    pub max: Option<f64>,
}

const fn default_function() -> Function {
    Function::Holding
}
const fn default_type() -> DataType {
    DataType::U16
}
const fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterMap {
    pub model: String,
    pub description: Option<String>,
    /// The device kind the map is for (noise, air, toilet, streetlight).
    pub kind: String,
    /// Registers further apart than this are read in separate requests (0: only adjacent ones
    /// share a request; some devices answer reads of unmapped gaps with an exception).
    #[serde(default)]
    pub max_gap_registers: u16,
    pub fields: Vec<Spanned<FieldDef>>,
}

/// One read request covering several fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub function: Function,
    pub address: u16,
    pub count: u16,
    /// Indexes into `fields` of the fields inside this block.
    pub fields: Vec<usize>,
}

/// Modbus allows at most 125 registers per read.
pub const MAX_READ: u16 = 125;

/// A decoded value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Number(f64),
    Bool(bool),
}

impl RegisterMap {
    /// Parse a map; errors are `(line, key, message)`.
    pub fn parse(text: &str) -> Result<RegisterMap, Vec<(usize, String, String)>> {
        let map: RegisterMap = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            vec![(line, String::new(), e.message().trim().to_string())]
        })?;
        let problems = map.problems(text);
        if problems.is_empty() {
            Ok(map)
        } else {
            Err(problems)
        }
    }

    pub fn load(path: &Path) -> Result<RegisterMap, Vec<(usize, String, String)>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![(0, String::new(), format!("cannot read: {e}"))])?;
        RegisterMap::parse(&text)
    }

    fn problems(&self, text: &str) -> Vec<(usize, String, String)> {
        let mut out = Vec::new();
        if meili_firmware::Kind::parse(&self.kind).is_none() {
            out.push((
                0,
                "kind".into(),
                format!("{:?} is not noise, air, toilet or streetlight", self.kind),
            ));
        }
        let mut spans: Vec<(Function, u16, u16, &str)> = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            let line = line_of(text, f.span().start);
            let key = format!("fields[{i}] (field {:?})", f.get_ref().field);
            let f = f.get_ref();
            match register_field_kind(&f.field) {
                None => out.push((line, format!("{key}.field"), "not a contract field".into())),
                Some(Some(kind)) if kind.as_str() != self.kind => out.push((
                    line,
                    format!("{key}.field"),
                    format!("a {} field in a {} map", kind.as_str(), self.kind),
                )),
                _ => {}
            }
            if !(f.scale.is_finite() && f.scale != 0.0 && f.offset.is_finite()) {
                out.push((
                    line,
                    format!("{key}.scale"),
                    "scale must be a non-zero number".into(),
                ));
            }
            if let (Some(lo), Some(hi)) = (f.min, f.max) {
                if lo > hi {
                    out.push((line, format!("{key}.min"), "min is above max".into()));
                }
            }
            let end = u32::from(f.address) + u32::from(f.data_type.words());
            if end > 0x1_0000 {
                out.push((
                    line,
                    format!("{key}.address"),
                    "runs past register 65535".into(),
                ));
                continue;
            }
            for (func, a, b, other) in &spans {
                if *func == f.function
                    && u32::from(*a) < end
                    && u32::from(f.address) < u32::from(*b)
                {
                    out.push((
                        line,
                        format!("{key}.address"),
                        format!("overlaps field {other:?}"),
                    ));
                }
            }
            if self.fields[..i]
                .iter()
                .any(|o| o.get_ref().field == f.field)
            {
                out.push((line, format!("{key}.field"), "field mapped twice".into()));
            }
            spans.push((f.function, f.address, end as u16, &f.field));
        }
        out
    }

    /// Read requests: fields of one function within `max_gap_registers` of each other share a
    /// request of at most [`MAX_READ`] registers.
    pub fn blocks(&self) -> Vec<Block> {
        let mut idx: Vec<usize> = (0..self.fields.len()).collect();
        idx.sort_by_key(|&i| {
            let f = self.fields[i].get_ref();
            (f.function, f.address)
        });
        let mut out: Vec<Block> = Vec::new();
        for i in idx {
            let f = self.fields[i].get_ref();
            let end = f.address + f.data_type.words();
            if let Some(b) = out.last_mut() {
                let b_end = b.address + b.count;
                if b.function == f.function
                    && f.address <= b_end.saturating_add(self.max_gap_registers)
                    && end - b.address <= MAX_READ
                {
                    b.count = b.count.max(end - b.address);
                    b.fields.push(i);
                    continue;
                }
            }
            out.push(Block {
                function: f.function,
                address: f.address,
                count: f.data_type.words(),
                fields: vec![i],
            });
        }
        out
    }
}

/// Decode one field from the registers of its block (`words[0]` is register `block_address`).
pub fn decode(f: &FieldDef, block_address: u16, words: &[u16]) -> Option<Value> {
    let at = usize::from(f.address.checked_sub(block_address)?);
    let swap = |w: u16| match f.byte_order {
        Order::Big => w,
        Order::Little => w.swap_bytes(),
    };
    let w0 = swap(*words.get(at)?);
    let pair = || -> Option<u32> {
        let w1 = swap(*words.get(at + 1)?);
        Some(match f.word_order {
            Order::Big => (u32::from(w0) << 16) | u32::from(w1),
            Order::Little => (u32::from(w1) << 16) | u32::from(w0),
        })
    };
    let raw = match f.data_type {
        DataType::Bool => return Some(Value::Bool(w0 != 0)),
        DataType::U16 => f64::from(w0),
        DataType::I16 => f64::from(w0 as i16),
        DataType::U32 => f64::from(pair()?),
        DataType::I32 => f64::from(pair()? as i32),
        DataType::F32 => f64::from(f32::from_bits(pair()?)),
    };
    let v = raw * f.scale + f.offset;
    v.is_finite().then_some(Value::Number(v))
}

#[cfg(test)]
mod tests;
