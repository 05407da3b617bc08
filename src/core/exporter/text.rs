//! The Prometheus text exposition format (version 0.0.4), written by hand: a family is a HELP
//! and a TYPE line followed by its samples, label values escaped (`\`, `"` and newlines), and
//! values in the spelling Prometheus parses (`+Inf`, `-Inf`, `NaN`). The client crates would
//! bring a registry and OpenMetrics framing for these few lines.

use std::fmt::Write as _;

#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    /// The family the next samples belong to.
    name: &'static str,
}

impl Exposition {
    /// Starts family `name` of `kind` (`gauge`, `counter`); its samples follow.
    pub fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        self.name = name;
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// A sample of the current family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                for ch in value.chars() {
                    match ch {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        other => self.out.push(other),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = if value.is_nan() {
            writeln!(self.out, " NaN")
        } else if value.is_infinite() {
            writeln!(self.out, " {}Inf", if value > 0.0 { '+' } else { '-' })
        } else {
            writeln!(self.out, " {value}")
        };
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_spelt_as_prometheus_reads_them() {
        let mut out = Exposition::default();
        out.family("x_ratio", "gauge", "a\\b\nc");
        out.sample(&[], f64::INFINITY);
        out.sample(&[("a", "1"), ("b", "2")], f64::NAN);
        out.sample(&[], 1e-7);
        assert_eq!(
            out.finish(),
            "# HELP x_ratio a\\\\b\\nc\n# TYPE x_ratio gauge\nx_ratio +Inf\nx_ratio{a=\"1\",b=\"2\"} NaN\nx_ratio 0.0000001\n"
        );
    }
}
