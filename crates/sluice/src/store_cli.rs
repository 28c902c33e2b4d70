//! `sluice migrate`: brings the store's schemas (directory and admin records, trace) up to
//! this program's version, or only checks them. `serve` migrates at start unless
//! `[store] migrate_at_start = false`; a fleet upgraded node by node runs this once, from
//! one node, before the new nodes start.

use std::path::Path;

use anyhow::Context as _;

use crate::config::Config;

/// What happened to one schema, in words.
fn outcome(what: &str, migrated: store::Migrated) -> String {
    if migrated.from == migrated.to {
        format!("{what} schema: version {}, up to date", migrated.to)
    } else if migrated.from == 0 {
        format!("{what} schema: created at version {}", migrated.to)
    } else {
        format!("{what} schema: migrated from version {} to {}", migrated.from, migrated.to)
    }
}

/// Runs (or with `check`, only checks) the migrations of `config`'s store.
pub fn migrate(flag: Option<&Path>, check: bool) -> anyhow::Result<()> {
    let mut config: Config = crate::discover::load(flag)?.config;
    config.store.migrate = if check { store::Migrate::Check } else { store::Migrate::Apply };
    if let (store::Location::Embedded { data_dir }, false) = (&config.store.location, check) {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    }
    println!("store: {}", config.store.describe());
    let (_, directory) = config.store.open_directory()?;
    println!("{}", outcome("directory", directory));
    if config.trace.is_some() {
        let (_, trace) = config.store.open_trace()?;
        println!("{}", outcome("trace", trace));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_in_words() {
        let m = |from, to| store::Migrated { from, to };
        assert_eq!(outcome("directory", m(4, 4)), "directory schema: version 4, up to date");
        assert_eq!(outcome("trace", m(0, 1)), "trace schema: created at version 1");
        assert_eq!(outcome("directory", m(2, 4)), "directory schema: migrated from version 2 to 4");
    }
}
