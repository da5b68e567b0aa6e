//! Where an instance keeps its state, from the environment it is given.
//!
//! `AUTHSYNC_HOME=DIR` puts everything (data, config, socket) under DIR, so
//! several instances can run side by side. Without it, the XDG directories:
//! data in `$XDG_DATA_HOME/authsync`, config in `$XDG_CONFIG_HOME/authsync`,
//! the socket in `$XDG_RUNTIME_DIR/authsync` (else `/tmp/authsync-UID`).
//! Pure: the caller passes the environment in.

use std::path::PathBuf;

/// The paths of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The vault (sled) and key files. Mode 0700.
    pub data_dir: PathBuf,
    /// `config.toml`.
    pub config_file: PathBuf,
    /// Holds the socket. Mode 0700.
    pub runtime_dir: PathBuf,
}

impl Paths {
    /// Resolves the paths from environment variables (`env` looks one up)
    /// and the user's uid.
    pub fn resolve(env: impl Fn(&str) -> Option<String>, uid: u32) -> Paths {
        let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(home) = var("AUTHSYNC_HOME") {
            return Paths {
                data_dir: home.join("data"),
                config_file: home.join("config.toml"),
                runtime_dir: home.join("run"),
            };
        }
        let home = var("HOME").unwrap_or_else(|| PathBuf::from("/"));
        let data = var("XDG_DATA_HOME").unwrap_or_else(|| home.join(".local/share"));
        let config = var("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
        let runtime = var("XDG_RUNTIME_DIR")
            .map(|d| d.join("authsync"))
            .unwrap_or_else(|| PathBuf::from(format!("/tmp/authsync-{uid}")));
        Paths {
            data_dir: data.join("authsync"),
            config_file: config.join("authsync/config.toml"),
            runtime_dir: runtime,
        }
    }

    /// The daemon's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("authd.sock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authsync_home_wins_over_xdg() {
        let env = |k: &str| match k {
            "AUTHSYNC_HOME" => Some("/h".to_string()),
            "XDG_RUNTIME_DIR" => Some("/run/user/1".to_string()),
            _ => None,
        };
        let p = Paths::resolve(env, 1);
        assert_eq!(p.socket(), PathBuf::from("/h/run/authd.sock"));
        assert_eq!(p.data_dir, PathBuf::from("/h/data"));
    }

    #[test]
    fn xdg_fallbacks() {
        let env = |k: &str| (k == "HOME").then(|| "/home/a".to_string());
        let p = Paths::resolve(env, 7);
        assert_eq!(p.data_dir, PathBuf::from("/home/a/.local/share/authsync"));
        assert_eq!(p.runtime_dir, PathBuf::from("/tmp/authsync-7"));
    }
}
