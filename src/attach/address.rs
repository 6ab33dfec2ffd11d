//! `amoc://HOST:PORT`: where a bridge listens.

use std::fmt;

/// A bridge's address, from `amoc://HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeAddress {
    pub host: String,
    pub port: u16,
}

impl BridgeAddress {
    /// Parses `amoc://HOST:PORT` (an IPv6 host in brackets: `amoc://[::1]:4040`).
    pub fn parse(url: &str) -> Result<BridgeAddress, String> {
        let bad = |why: &str| format!("bridge address `{url}`: {why} (expected amoc://HOST:PORT)");
        let rest = url
            .strip_prefix("amoc://")
            .ok_or_else(|| bad("it does not start with amoc://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("no closing `]`"))?;
            let port = after.strip_prefix(':').ok_or_else(|| bad("no port"))?;
            (host, port)
        } else {
            rest.rsplit_once(':').ok_or_else(|| bad("no port"))?
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(bad(&format!("`{port}` is not a port from 1 to 65535"))),
        };
        Ok(BridgeAddress {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for BridgeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "amoc://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "amoc://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BridgeAddress;

    #[test]
    fn parses_hosts_and_ports() {
        let a = BridgeAddress::parse("amoc://127.0.0.1:4040").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 4040));
        let a = BridgeAddress::parse("amoc://[::1]:9/").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 9));
        assert_eq!(a.to_string(), "amoc://[::1]:9");
        assert_eq!(
            BridgeAddress::parse("amoc://master.local:1").unwrap().host,
            "master.local"
        );
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "http://x:1",
            "amoc://x",
            "amoc://:4040",
            "amoc://x:0",
            "amoc://x:70000",
            "amoc://x:port",
            "amoc://[::1:4",
        ] {
            let e = BridgeAddress::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
