//! Which config file a command uses: `--config FILE`, else the file `SLUICE_CONFIG` names,
//! else `./sluice.toml`, else `/etc/sluice/sluice.toml`, else the built-in defaults. Every
//! command says which when it matters (a missing database names it), and the next steps
//! a command prints carry the `--config` flag the operator used.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{self, Config};

/// The environment variable naming the config file.
pub const ENV: &str = "SLUICE_CONFIG";
/// Looked for in the working directory.
pub const LOCAL: &str = "sluice.toml";
/// The system-wide config.
pub const SYSTEM: &str = "/etc/sluice/sluice.toml";

/// Where the config came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(PathBuf),
    Env(PathBuf),
    Local(PathBuf),
    System(PathBuf),
    Defaults,
}

impl Source {
    /// Finds the config a command uses, in the order of the module's doc.
    pub fn locate(flag: Option<&Path>) -> Source {
        if let Some(path) = flag {
            return Source::Flag(path.to_path_buf());
        }
        if let Some(path) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
            return Source::Env(PathBuf::from(path));
        }
        let local = Path::new(".").join(LOCAL);
        if local.is_file() {
            return Source::Local(local);
        }
        if Path::new(SYSTEM).is_file() {
            return Source::System(PathBuf::from(SYSTEM));
        }
        Source::Defaults
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Source::Flag(p) | Source::Env(p) | Source::Local(p) | Source::System(p) => Some(p),
            Source::Defaults => None,
        }
    }

    /// How the operator would recognise it: `--config x.toml`, `SLUICE_CONFIG=...`.
    pub fn describe(&self) -> String {
        match self {
            Source::Flag(p) => format!("--config {}", p.display()),
            Source::Env(p) => format!("{ENV}={}", p.display()),
            Source::Local(p) | Source::System(p) => p.display().to_string(),
            Source::Defaults => {
                format!("the built-in defaults (no --config, no {ENV}, no ./{LOCAL}, no {SYSTEM})")
            }
        }
    }

    /// The flag to repeat in a printed next step: ` --config FILE` when the operator gave
    /// one (the others are found again by the same search).
    pub fn flag(&self) -> String {
        match self {
            Source::Flag(p) => {
                let text = p.display().to_string();
                if text.contains(|c: char| c.is_whitespace() || c == '\'') {
                    format!(" --config '{}'", text.replace('\'', "'\\''"))
                } else {
                    format!(" --config {text}")
                }
            }
            _ => String::new(),
        }
    }
}

/// A config and where it came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub source: Source,
}

/// Locates and loads the config; a file named by `SLUICE_CONFIG` that cannot be read says so.
pub fn load(flag: Option<&Path>) -> anyhow::Result<Loaded> {
    let source = Source::locate(flag);
    let config = match &source {
        Source::Env(path) => {
            config::load(Some(path)).with_context(|| format!("{ENV} names {}", path.display()))?
        }
        other => config::load(other.path())?,
    };
    Ok(Loaded { config, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_steps_repeat_only_a_given_flag() {
        assert_eq!(Source::Flag("/etc/x.toml".into()).flag(), " --config /etc/x.toml");
        assert_eq!(Source::Flag("my dir/x.toml".into()).flag(), " --config 'my dir/x.toml'");
        assert_eq!(Source::Env("/x.toml".into()).flag(), "");
        assert_eq!(Source::Defaults.flag(), "");
        assert!(Source::Defaults.describe().contains("no --config, no SLUICE_CONFIG"));
    }
}
