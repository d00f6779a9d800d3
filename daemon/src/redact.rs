//! Secrets out of logs, errors, `/health` and Debug output: a URL's password and every query
//! value (webhook tokens such as `?access_token=`, InfluxDB's `p=`) become `***`.

/// `url` with its password and query values replaced by `***` (unparsable input: `***`).
pub fn url(s: &str) -> String {
    let Ok(mut u) = url::Url::parse(s) else {
        // Not a URL: shown as typed unless it could carry credentials or a token.
        return if s.contains(['@', '?', ':']) && s.contains(['@', '?']) {
            "***".into()
        } else {
            s.into()
        };
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    let keys: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
    if !keys.is_empty() {
        let mut q = u.query_pairs_mut();
        q.clear();
        for k in &keys {
            q.append_pair(k, "***");
        }
    }
    // `***` is percent-encoded in the query; show it plainly.
    u.to_string().replace("%2A%2A%2A", "***")
}

/// `text` with every URL in it redacted (error messages of libraries that quote URLs).
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = ["http://", "https://", "mqtt://", "mqtts://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .map_or(rest.len(), |n| i + n);
        out.push_str(&url(&rest[i..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// An HTTP client error's text without the URL it carries (which may hold a token).
pub fn http_error(e: &reqwest::Error) -> String {
    let s = e.to_string();
    match e.url() {
        Some(u) => s.replace(&format!(" ({u})"), "").replace(u.as_str(), "***"),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_errors_lose_their_url() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Nothing listens on port 1: a connection error that carries the URL.
        let e = rt
            .block_on(
                reqwest::Client::new()
                    .get("http://127.0.0.1:1/write?token=s3cret")
                    .send(),
            )
            .unwrap_err();
        assert!(
            e.to_string().contains("s3cret"),
            "the raw error has it: {e}"
        );
        let shown = super::http_error(&e);
        assert!(
            !shown.contains("s3cret") && !shown.contains("127.0.0.1:1"),
            "{shown}"
        );
    }

    #[test]
    fn passwords_and_query_values_go() {
        assert_eq!(
            super::url("https://oapi.dingtalk.com/robot/send?access_token=abc123&x=1"),
            "https://oapi.dingtalk.com/robot/send?access_token=***&x=***"
        );
        assert_eq!(
            super::url("http://alice:s3cret@127.0.0.1:9093/"),
            "http://alice:***@127.0.0.1:9093/"
        );
        assert_eq!(super::url("mqtt://u:p@host:1883"), "mqtt://u:***@host:1883");
        assert_eq!(
            super::url("http://127.0.0.1:8086"),
            "http://127.0.0.1:8086/"
        );
        assert_eq!(super::url("not a url"), "not a url");
        assert_eq!(super::url("htp//u:pw@host"), "***");
        assert_eq!(
            super::text("error sending request for url (http://u:pw@h:8086/api/v2/write?org=o&token=t): refused"),
            "error sending request for url (http://u:***@h:8086/api/v2/write?org=***&token=***): refused"
        );
    }
}
