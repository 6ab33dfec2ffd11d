//! How a request failed: one of four classes, and the reason as text.

/// The class of a failed request, as the summary's `http.errors` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// No connection: refused, unreachable, the name did not resolve.
    Connect,
    /// No complete answer within the timeout (connecting included).
    Timeout,
    /// The TLS handshake failed (a certificate not trusted, no common protocol, ...).
    Tls,
    /// Anything else: the connection reset or closed mid-request, a protocol error.
    Other,
}

impl ErrorClass {
    /// Every class, in the summary's order.
    pub const ALL: [ErrorClass; 4] = [
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::Tls,
        ErrorClass::Other,
    ];

    /// `connect`, `timeout`, `tls` or `other`: the `class` metadata and the summary key.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Tls => "tls",
            ErrorClass::Other => "other",
        }
    }

    /// The class named `s` (`other` for anything unknown).
    pub fn parse(s: &str) -> ErrorClass {
        match s {
            "connect" => ErrorClass::Connect,
            "timeout" => ErrorClass::Timeout,
            "tls" => ErrorClass::Tls,
            _ => ErrorClass::Other,
        }
    }
}

/// A failed request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", class.as_str())]
pub struct RequestError {
    pub class: ErrorClass,
    pub reason: String,
}

impl RequestError {
    pub fn new(class: ErrorClass, reason: impl std::fmt::Display) -> RequestError {
        RequestError {
            class,
            reason: reason.to_string(),
        }
    }

    /// An error of the `other` class: a hyper error with its causes, in one line.
    pub fn other(e: &(dyn std::error::Error + 'static)) -> RequestError {
        RequestError::new(ErrorClass::Other, chain(e))
    }
}

/// An error and its sources, `: `-separated, on one line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out.replace('\n', " ")
}
