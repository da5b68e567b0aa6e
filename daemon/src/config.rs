//! `config.toml`: the daemon's settings, each also a command-line flag (the
//! flag wins). Unknown keys are an error, so a typo does not pass silently.
//!
//! ```toml
//! name = "alice-laptop"             # this device's name at `authctl init`/`join`
//! listen = "0.0.0.0:47811"          # where the QUIC endpoint listens
//! peers = ["home.example.net:47811", "[2001:db8::7]:47811"]  # static peers: names resolved at every dial
//! mdns = true                       # announce and find devices with mDNS
//! auto_lock = 900                   # lock after this many idle seconds (0: never)
//! relay = false                     # run as a relay (`authd --relay`)
//! default_collection = "shared"    # where `add` and `import` put entries without --in
//! ```

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The file's contents; every key optional.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The device name `authctl init` and `join` use without `--name` (read
    /// by authctl; accepted here so the file stays one checked whole).
    pub name: Option<String>,
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub mdns: Option<bool>,
    pub auto_lock: Option<u64>,
    pub relay: Option<bool>,
    /// The collection `authctl add` and `import` use without `--in` (read
    /// by authctl; accepted here so the file stays one checked whole).
    pub default_collection: Option<String>,
}

impl Config {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("{} is not a valid config", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("failed to read {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_every_key_and_refuses_unknown_ones() {
        let config: Config = toml::from_str(
            "name = \"n\"\nlisten = \"127.0.0.1:5000\"\npeers = [\"a:1\"]\nmdns = false\nauto_lock = 60\nrelay = true\n",
        )
        .unwrap();
        assert_eq!(config.name.as_deref(), Some("n"));
        assert_eq!(config.listen, Some("127.0.0.1:5000".parse().unwrap()));
        assert_eq!(config.peers, vec!["a:1"]);
        assert_eq!(config.mdns, Some(false));
        assert_eq!(config.auto_lock, Some(60));
        assert_eq!(config.relay, Some(true));
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
        assert!(toml::from_str::<Config>("listen = \"not an address\"").is_err());
    }
}
