//! Taking in new rules and silences on reload (docs/operations.md, "Reload").
//!
//! A rule is matched by name. An unchanged rule keeps its evaluation state (windows, `for_mins`
//! timers, firing alerts). A changed or removed reading rule (threshold, lamp fault) starts
//! afresh: its firing alerts resolve now ("rule changed/removed on reload") and a changed rule
//! fires again if its condition still holds for `for_mins`. Gateway rules (offline, Modbus,
//! compliance, backlog) are re-evaluated at every tick anyway; a removed one's alerts resolve
//! at the next tick.

use std::collections::HashMap;

use super::{parse_time, reading_rules, Evaluator};
use crate::config::alerts::{AlertsConfig, RuleConfig, RuleType};
use crate::registry::DeviceId;

/// What a reload changed in the rules.
#[derive(Debug, Default, PartialEq)]
pub struct RuleChanges {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub silences_changed: bool,
}

impl RuleChanges {
    pub fn is_empty(&self) -> bool {
        *self == RuleChanges::default()
    }
}

/// A rule's definition, for comparing across reloads.
fn shape(r: &RuleConfig) -> String {
    format!("{r:?}")
}

impl Evaluator {
    /// Use `cfg`'s rules and silences from now on (`now`: gateway time, unix s).
    pub fn reconfigure(&mut self, cfg: &AlertsConfig, now: i64) -> RuleChanges {
        let old: HashMap<&str, (usize, String)> = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.as_str(), (i, shape(r))))
            .collect();
        let mut out = RuleChanges::default();
        // Old index → new index, for the rules that stay as they were.
        let mut kept: HashMap<u16, u16> = HashMap::new();
        for (i, r) in cfg.rules.iter().enumerate() {
            match old.get(r.name.as_str()) {
                None => out.added.push(r.name.clone()),
                Some((j, s)) if *s == shape(r) => {
                    kept.insert(*j as u16, i as u16);
                }
                Some(_) => out.changed.push(r.name.clone()),
            }
        }
        let new_names: Vec<&str> = cfg.rules.iter().map(|r| r.name.as_str()).collect();
        out.removed = self
            .rules
            .iter()
            .filter(|r| !new_names.contains(&r.name.as_str()))
            .map(|r| r.name.clone())
            .collect();
        let ended: Vec<(String, bool)> = self
            .rules
            .iter()
            .filter(|r| matches!(r.kind, RuleType::Threshold | RuleType::LampFault))
            .filter_map(|r| {
                let removed = out.removed.contains(&r.name);
                (removed || out.changed.contains(&r.name)).then(|| (r.name.clone(), removed))
            })
            .collect();

        let conds = std::mem::take(&mut self.conds);
        self.conds = conds
            .into_iter()
            .filter_map(|((rule, device), c)| Some(((*kept.get(&rule)?, device), c)))
            .collect();
        self.rules = cfg.rules.clone();
        let registry = std::sync::Arc::clone(&self.registry);
        self.by_device = (0..registry.len())
            .map(|d| reading_rules(&self.rules, registry.get(d as DeviceId)))
            .collect();
        let silences: Vec<_> = cfg
            .silences
            .iter()
            .map(|s| (parse_time(&s.starts), parse_time(&s.ends), s.clone()))
            .collect();
        out.silences_changed = silences != self.silences;
        self.silences = silences;

        let at = self.rfc3339(now);
        let mut store = self.store();
        let ids: Vec<(String, bool)> = store
            .active
            .iter()
            .filter_map(|(id, a)| {
                let (_, removed) = ended.iter().find(|(name, _)| *name == a.alert.rule)?;
                Some((id.clone(), *removed))
            })
            .collect();
        for (id, removed) in ids {
            let (zh, en) = if removed {
                (
                    "已恢复：规则已在重新加载配置时删除。",
                    "Resolved: the rule was removed on reload.",
                )
            } else {
                (
                    "已恢复：规则已在重新加载配置时修改，将按新规则重新判断。",
                    "Resolved: the rule was changed on reload; it is evaluated afresh.",
                )
            };
            store.resolve(&id, at.clone(), (zh.into(), en.into()));
        }
        out
    }
}
