//! Which Bromcom base URLs may carry the application secret. The secret travels in a header of
//! every request, so plain `http` is refused unless it stays on this machine (the simulator,
//! a local proxy): loopback addresses (127.0.0.0/8, `::1`) and `localhost`.

use url::{Host, Url};

/// Why `base_url` may not be used, in words for an operator; `None` when it may.
pub fn refusal(base_url: &str) -> Option<String> {
    let url = match Url::parse(base_url) {
        Ok(url) if url.host().is_some() => url,
        _ => {
            return Some(format!(
                "`{base_url}` is not an http(s) URL; production is https://api.bromcomcloud.com"
            ));
        }
    };
    match url.scheme() {
        "https" => None,
        "http" if url.host().is_some_and(is_loopback) => None,
        "http" => Some(format!(
            "`{base_url}` is plain http, which would send the application secret unencrypted; \
             use https (plain http is accepted only for a loopback host: 127.0.0.0/8, ::1, \
             localhost)"
        )),
        _ => Some(format!(
            "`{base_url}` is not an http(s) URL; production is https://api.bromcomcloud.com"
        )),
    }
}

fn is_loopback(host: Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(address) => address.is_loopback(),
        Host::Ipv6(address) => address.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn https_anywhere_and_http_on_loopback_are_accepted() {
        for url in [
            "https://api.bromcomcloud.com",
            "https://10.1.2.3:8443/",
            "http://127.0.0.1:8480",
            "http://127.200.3.4/",
            "http://[::1]:8480",
            "http://localhost:8480",
            "http://LocalHost",
        ] {
            assert_eq!(refusal(url), None, "{url}");
        }
    }

    #[test]
    fn plain_http_elsewhere_is_refused_and_says_why() {
        for url in [
            "http://api.bromcomcloud.com",
            "http://10.0.0.1:8480",
            "http://128.0.0.1",
            "http://[::2]",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
        ] {
            let message = refusal(url).unwrap_or_else(|| panic!("{url} accepted"));
            assert!(
                message.contains("plain http") && message.contains("https"),
                "{message}"
            );
        }
    }

    #[test]
    fn what_is_not_an_http_url_is_refused() {
        for url in ["api bromcom", "ftp://api.bromcomcloud.com", "https://"] {
            let message = refusal(url).unwrap_or_else(|| panic!("{url} accepted"));
            assert!(message.contains("not an http(s) URL"), "{message}");
        }
    }
}
