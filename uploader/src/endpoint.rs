//! What an endpoint URL says about the server behind it.

/// Whether `endpoint` is one of Google's APIs (`googleapis.com` or a host
/// below it): Google refuses spans past its 14-day window, and its `Date`
/// is trusted by default (see `own_clock`).
pub(crate) fn is_google(endpoint: &str) -> bool {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h == "googleapis.com" || h.ends_with(".googleapis.com"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_is_googleapis_com_and_below_only() {
        assert!(is_google("https://telemetry.googleapis.com"));
        assert!(is_google("https://googleapis.com/v1"));
        assert!(!is_google("https://googleapis.com.evil.example"));
        assert!(!is_google("http://127.0.0.1:4318"));
        assert!(!is_google("not a url"));
    }
}
