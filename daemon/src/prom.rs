//! Prometheus text exposition format 0.0.4: the one place that writes it. Each component
//! renders its own families through [`Prom`] (`Metrics::render`, `BufferMetrics::render`,
//! `sinks::metrics::render` …); this module knows nothing of what they count.

use std::fmt::Write as _;

/// The text of one `/metrics` answer, family by family.
#[derive(Debug, Default)]
pub struct Prom {
    out: String,
}

impl Prom {
    pub fn new() -> Prom {
        Prom {
            out: String::with_capacity(8192),
        }
    }

    /// One family: `# HELP`, `# TYPE`, then a sample per `(labels, value)`; labels are the
    /// text between the braces (`sink="influx",type="influxdb_v2"`), empty for none.
    pub fn family<I>(&mut self, name: &str, kind: &str, help: &str, rows: I)
    where
        I: IntoIterator<Item = (String, f64)>,
    {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            if labels.is_empty() {
                let _ = writeln!(self.out, "{name} {v}");
            } else {
                let _ = writeln!(self.out, "{name}{{{labels}}} {v}");
            }
        }
    }

    /// A counter without labels.
    pub fn counter(&mut self, name: &str, help: &str, v: f64) {
        self.family(name, "counter", help, [(String::new(), v)]);
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, v: f64) {
        self.family(name, "gauge", help, [(String::new(), v)]);
    }

    /// Lines written by a component that renders its own text (the HTTP layer's counters).
    pub fn raw(&mut self, text: &str) {
        self.out.push_str(text);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_help_type_and_samples() {
        let mut p = Prom::new();
        p.family(
            "m_total",
            "counter",
            "Things.",
            [("a=\"x\"".to_string(), 2.0), ("a=\"y\"".to_string(), 0.5)],
        );
        p.gauge("g", "A gauge.", 3.0);
        assert_eq!(
            p.finish(),
            "# HELP m_total Things.\n# TYPE m_total counter\nm_total{a=\"x\"} 2\nm_total{a=\"y\"} 0.5\n\
             # HELP g A gauge.\n# TYPE g gauge\ng 3\n"
        );
    }
}
