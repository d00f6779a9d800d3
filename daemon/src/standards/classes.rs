//! The classes the standards judge by: acoustic functional zones (GB 3096-2008 §4), road
//! classes for street lighting, and public toilet classes (CJJ 14). Devices declare theirs in
//! the configuration (`zone_class`, `road_class`, `toilet_class`).

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum ZoneClass {
    #[serde(rename = "0")]
    C0,
    #[serde(rename = "1")]
    C1,
    #[serde(rename = "2")]
    C2,
    #[serde(rename = "3")]
    C3,
    #[serde(rename = "4a")]
    C4a,
    #[serde(rename = "4b")]
    C4b,
}

impl ZoneClass {
    pub const ALL: [ZoneClass; 6] = [
        ZoneClass::C0,
        ZoneClass::C1,
        ZoneClass::C2,
        ZoneClass::C3,
        ZoneClass::C4a,
        ZoneClass::C4b,
    ];
    pub const fn as_str(self) -> &'static str {
        match self {
            ZoneClass::C0 => "0",
            ZoneClass::C1 => "1",
            ZoneClass::C2 => "2",
            ZoneClass::C3 => "3",
            ZoneClass::C4a => "4a",
            ZoneClass::C4b => "4b",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoadClass {
    Main,
    Secondary,
    Branch,
    Alley,
}

impl RoadClass {
    pub const fn as_str(self) -> &'static str {
        match self {
            RoadClass::Main => "main",
            RoadClass::Secondary => "secondary",
            RoadClass::Branch => "branch",
            RoadClass::Alley => "alley",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum ToiletClass {
    #[serde(rename = "1")]
    C1,
    #[serde(rename = "2")]
    C2,
    #[serde(rename = "3")]
    C3,
}

impl ToiletClass {
    pub const fn as_str(self) -> &'static str {
        match self {
            ToiletClass::C1 => "1",
            ToiletClass::C2 => "2",
            ToiletClass::C3 => "3",
        }
    }
}
