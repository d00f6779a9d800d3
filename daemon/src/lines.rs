//! Positions in configuration text, for errors that name a line (the daemon's configuration
//! and the Modbus register maps).

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of a dotted configuration key in TOML `text`: `daemon.timezone`,
/// `alerts.rules[2].metric`, `mqtt.tls.ca_file`, `buffer` (a table: its header). The key's
/// own line when it is written, else its table's header, else 0 (everything defaulted).
/// Tables are found by their headers (`[daemon]`, the third `[[alerts.rules]]`); dotted keys
/// and inline tables are matched on their first segment only.
pub fn key_line(text: &str, key: &str) -> usize {
    let parts: Vec<&str> = key.split('.').collect();
    let lines: Vec<&str> = text.lines().collect();
    // The deepest table header written for the key, and where its body starts.
    let mut body = (0, 0); // (line index of the header + 1, header line number)
    let mut table = String::new();
    let mut leaf_at = 0;
    for (depth, part) in parts.iter().enumerate() {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (*part, None),
        };
        let path = if table.is_empty() {
            name.to_string()
        } else {
            format!("{table}.{name}")
        };
        // A table below an array element is searched for after that element's header.
        let from = body.0;
        let header = match index {
            Some(i) => find_header(&lines, from, &format!("[[{path}]]"), i),
            None => find_header(&lines, from, &format!("[{path}]"), 0),
        };
        match header {
            Some(h) => {
                body = (h + 1, h + 1);
                table = path;
                leaf_at = depth + 1;
            }
            None if depth + 1 < parts.len() => {
                table = path;
            }
            None => {}
        }
    }
    // A key below the deepest header found: `leaf = …` in that table's body.
    if let Some(leaf) = parts.get(leaf_at) {
        let leaf = leaf.split('[').next().unwrap_or(leaf);
        for (i, l) in lines.iter().enumerate().skip(body.0) {
            let t = l.trim_start();
            if t.starts_with('[') {
                break;
            }
            let name = t.split(['=', '.']).next().unwrap_or("").trim();
            if name == leaf && t.contains('=') {
                return i + 1;
            }
        }
    }
    body.1
}

/// The line index of the `n`-th (from 0) header `h` (`[daemon]`, `[[devices]]`) at or after
/// line index `from`.
fn find_header(lines: &[&str], from: usize, h: &str, n: usize) -> Option<usize> {
    lines
        .iter()
        .enumerate()
        .skip(from)
        .filter(|(_, l)| {
            let t = l.trim();
            t.strip_prefix(h).is_some_and(|rest| {
                rest.trim_start().is_empty() || rest.trim_start().starts_with('#')
            })
        })
        .map(|(i, _)| i)
        .nth(n)
}

#[cfg(test)]
mod tests {
    use super::key_line;

    const TEXT: &str = "\
timezone_note = 1
[daemon]
data_dir = \"x\"
timezone = \"Mars/Olympus\"

[mqtt]
url = \"mqtt://a\"
[mqtt.tls]
ca_file = \"ca.pem\"

[[alerts.rules]]
name = \"a\"
metric = \"laeq\"

[[alerts.rules]] # second
name = \"b\"
metric = \"bogus\"

[buffer]

[[sinks]]
type = \"file\"
[sinks.batch]
max_rows = 1

[[sinks]]
type = \"file\"
[sinks.batch]
max_rows = 2
";

    #[test]
    fn finds_keys_in_their_tables() {
        assert_eq!(key_line(TEXT, "daemon.timezone"), 4);
        assert_eq!(key_line(TEXT, "mqtt.url"), 7);
        assert_eq!(key_line(TEXT, "mqtt.tls.ca_file"), 9);
        assert_eq!(key_line(TEXT, "alerts.rules[1].metric"), 17);
        assert_eq!(key_line(TEXT, "alerts.rules[0].name"), 12);
        // A key not written: its table's header; a table: its header; nothing: 0.
        assert_eq!(key_line(TEXT, "alerts.rules[1].window_mins"), 15);
        assert_eq!(key_line(TEXT, "buffer"), 19);
        assert_eq!(key_line(TEXT, "mqtt.keep_alive_secs"), 6);
        assert_eq!(key_line(TEXT, "validate.max_age_secs"), 0);
        // A table of the second array element, not the first's.
        assert_eq!(key_line(TEXT, "sinks[1].batch.max_rows"), 29);
        assert_eq!(key_line(TEXT, "sinks[0].batch.max_rows"), 24);
    }
}
