//! What to send, as given ([`HttpSpec`]: text from the command line or the settings) and as
//! checked ([`HttpOptions`]). Every problem is one [`OptionsError`] line naming what is wrong
//! and where.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};

/// The request as given: text, before any checking.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSpec {
    /// The URL (used when `urls_file` is not given).
    pub url: Option<String>,
    /// A file of URLs, one per line (blank lines and lines starting with `#` skipped), sent
    /// round-robin.
    pub urls_file: Option<PathBuf>,
    /// `GET`, `POST`, ... (any token).
    pub method: String,
    /// `Name: value` lines.
    pub headers: Vec<String>,
    /// The request body as text.
    pub body: Option<String>,
    /// A file whose bytes are the request body.
    pub body_file: Option<PathBuf>,
    /// Per request, connecting included.
    pub timeout: Duration,
    /// Accept any TLS certificate (self-signed test servers).
    pub insecure: bool,
    /// Speak HTTP/2 (ALPN `h2` over TLS, prior knowledge over plain TCP).
    pub http2: bool,
}

impl Default for HttpSpec {
    fn default() -> Self {
        HttpSpec {
            url: None,
            urls_file: None,
            method: "GET".to_owned(),
            headers: Vec::new(),
            body: None,
            body_file: None,
            timeout: super::DEFAULT_TIMEOUT,
            insecure: false,
            http2: false,
        }
    }
}

/// Why an [`HttpSpec`] cannot be used. Each message is one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("no URL to load: give one (`rookery http URL`, `--set url=URL`) or --urls FILE")]
    NoUrl,
    #[error("bad URL {url:?}{place}: {reason}")]
    BadUrl {
        url: String,
        /// Empty, or ` (FILE line N)`.
        place: String,
        reason: String,
    },
    #[error("--urls {path}: {reason}")]
    UrlsFile { path: String, reason: String },
    #[error("bad method {0:?}: a method is a token such as GET or POST")]
    BadMethod(String),
    #[error("bad header {header:?}: {reason}")]
    BadHeader { header: String, reason: String },
    #[error("--body and --body-file are both given: choose one")]
    TwoBodies,
    #[error("--body-file {path}: {reason}")]
    BodyFile { path: String, reason: String },
    #[error("--timeout must be more than 0")]
    ZeroTimeout,
}

/// One URL, split for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// `https`.
    pub tls: bool,
    /// Host name or address to connect to (without brackets for IPv6).
    pub host: String,
    pub port: u16,
    /// `host[:port]`, for the `Host` header.
    pub authority: String,
    /// `/path?query` (HTTP/1.1 requests carry this form).
    pub origin_form: Uri,
    /// The whole URL (HTTP/2 requests carry this form).
    pub absolute: Uri,
    /// Index of this target's origin (scheme, host, port) among [`HttpOptions::origins`]: a user
    /// keeps one connection per origin.
    pub origin: usize,
}

/// The request, checked: what the users send.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// At least one.
    pub targets: Vec<Target>,
    /// How many distinct origins the targets have.
    pub origins: usize,
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub timeout: Duration,
    pub insecure: bool,
    pub http2: bool,
}

impl HttpOptions {
    /// Whether any target is `https`.
    pub fn needs_tls(&self) -> bool {
        self.targets.iter().any(|t| t.tls)
    }
}

impl HttpSpec {
    /// Checks everything and reads the files (`urls_file`, `body_file`).
    pub fn resolve(&self) -> Result<HttpOptions, OptionsError> {
        if self.timeout.is_zero() {
            return Err(OptionsError::ZeroTimeout);
        }
        let method = Method::from_bytes(self.method.trim().as_bytes())
            .map_err(|_| OptionsError::BadMethod(self.method.clone()))?;
        let mut headers = HeaderMap::new();
        for h in &self.headers {
            let (name, value) = parse_header(h)?;
            headers.append(name, value);
        }
        let body = match (&self.body, &self.body_file) {
            (Some(_), Some(_)) => return Err(OptionsError::TwoBodies),
            (Some(text), None) => Bytes::from(text.clone()),
            (None, Some(path)) => {
                std::fs::read(path)
                    .map(Bytes::from)
                    .map_err(|e| OptionsError::BodyFile {
                        path: path.display().to_string(),
                        reason: io_reason(&e),
                    })?
            }
            (None, None) => Bytes::new(),
        };
        let mut targets = match &self.urls_file {
            Some(path) => read_urls(path)?,
            None => match self.url.as_deref().map(str::trim) {
                Some(url) if !url.is_empty() => vec![parse_url(url, String::new())?],
                _ => return Err(OptionsError::NoUrl),
            },
        };
        let mut origins: Vec<(bool, String, u16)> = Vec::new();
        for t in &mut targets {
            let key = (t.tls, t.host.clone(), t.port);
            t.origin = match origins.iter().position(|o| *o == key) {
                Some(i) => i,
                None => {
                    origins.push(key);
                    origins.len() - 1
                }
            };
        }
        Ok(HttpOptions {
            targets,
            origins: origins.len(),
            method,
            headers,
            body,
            timeout: self.timeout,
            insecure: self.insecure,
            http2: self.http2,
        })
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

fn read_urls(path: &std::path::Path) -> Result<Vec<Target>, OptionsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| OptionsError::UrlsFile {
        path: shown.clone(),
        reason: io_reason(&e),
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_url(line, format!(" ({shown} line {})", i + 1))?);
    }
    if out.is_empty() {
        return Err(OptionsError::UrlsFile {
            path: shown,
            reason: "no URL in it".to_owned(),
        });
    }
    Ok(out)
}

/// Parses an absolute `http://` or `https://` URL.
fn parse_url(url: &str, place: String) -> Result<Target, OptionsError> {
    let bad = |reason: &str| OptionsError::BadUrl {
        url: url.to_owned(),
        place: place.clone(),
        reason: reason.to_owned(),
    };
    if !url.contains("://") {
        return Err(bad("it needs a scheme, e.g. http://HOST/PATH"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| OptionsError::BadUrl {
            url: url.to_owned(),
            place: place.clone(),
            reason: e.to_string(),
        })?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(_) => return Err(bad("only http:// and https:// are supported")),
        None => return Err(bad("it needs a scheme, e.g. http://HOST/PATH")),
    };
    let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        return Err(bad("it has no host"));
    }
    if authority.as_str().contains('@') {
        return Err(bad(
            "credentials in the URL are not supported (send a header)",
        ));
    }
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let origin_form: Uri = path.parse().map_err(|_| bad("bad path"))?;
    Ok(Target {
        url: url.to_owned(),
        tls,
        host,
        port,
        authority: authority.as_str().to_owned(),
        origin_form,
        absolute: uri.clone(),
        origin: 0,
    })
}

/// Parses `Name: value` (the value may be empty).
pub fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue), OptionsError> {
    let bad = |reason: &str| OptionsError::BadHeader {
        header: h.to_owned(),
        reason: reason.to_owned(),
    };
    let (name, value) = h
        .split_once(':')
        .ok_or_else(|| bad("expected `Name: value`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| bad("the name may only hold letters, digits and !#$%&'*+-.^_`|~"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| bad("the value holds a control character"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> HttpSpec {
        HttpSpec {
            url: Some(url.to_owned()),
            ..HttpSpec::default()
        }
    }

    #[test]
    fn urls_split_into_what_the_client_needs() {
        let o = spec("https://example.com:8443/a/b?c=1").resolve().unwrap();
        let t = &o.targets[0];
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("example.com", 8443));
        assert_eq!(t.authority, "example.com:8443");
        assert_eq!(t.origin_form, "/a/b?c=1");
        let t = &spec("http://[::1]").resolve().unwrap().targets[0];
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert_eq!(t.origin_form, "/");
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("example.com/x", "scheme"),
            ("ftp://example.com/", "only http"),
            ("http://", "bad URL"),
            ("http://u:p@h/", "credentials"),
            ("http://exa mple.com/", "bad URL \"http://exa mple.com/\": "),
        ] {
            let e = spec(url).resolve().unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains('\n'));
        }
        assert_eq!(
            HttpSpec::default().resolve().unwrap_err(),
            OptionsError::NoUrl
        );
    }

    #[test]
    fn headers_are_checked() {
        let (n, v) = parse_header("X-Test:  a, b ").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-test", "a, b"));
        assert!(parse_header("Accept:").is_ok());
        for h in ["NoColon", ": v", "Bad Name: v", "X: a\u{1}b"] {
            let e = parse_header(h).unwrap_err();
            assert!(matches!(e, OptionsError::BadHeader { .. }), "{h}");
        }
    }

    #[test]
    fn origins_are_shared_by_equal_scheme_host_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("urls.txt");
        std::fs::write(
            &path,
            "# comment\nhttp://a/1\n\nhttp://a:80/2\nhttps://a/3\nhttp://b/4\n",
        )
        .unwrap();
        let o = HttpSpec {
            urls_file: Some(path.clone()),
            ..HttpSpec::default()
        }
        .resolve()
        .unwrap();
        let origins: Vec<usize> = o.targets.iter().map(|t| t.origin).collect();
        assert_eq!(origins, [0, 0, 1, 2]);
        assert_eq!(o.origins, 3);
        std::fs::write(&path, "http://a/\nnot a url\n").unwrap();
        let e = HttpSpec {
            urls_file: Some(path.clone()),
            ..HttpSpec::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn bodies_come_from_text_or_a_file() {
        let mut s = spec("http://a/");
        s.body = Some("hi".into());
        assert_eq!(s.resolve().unwrap().body, "hi");
        s.body_file = Some("/nonexistent/body".into());
        assert_eq!(s.resolve().unwrap_err(), OptionsError::TwoBodies);
        s.body = None;
        let e = s.resolve().unwrap_err().to_string();
        assert_eq!(e, "--body-file /nonexistent/body: no such file");
    }
}
