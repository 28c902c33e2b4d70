//! Whether the files and folders a config names are usable, checked by `sluice check-config`
//! and before `serve` starts: `data_dir` and the Maildir root exist or can be created and are
//! writable directories, what Sluice keeps in `data_dir` has the right kind, the control
//! socket's path fits a Unix socket, and the TLS files are readable and parse. Each problem
//! names the config field, the path and what to do.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use gateway::tls::{self, TlsSource};

use crate::config::{Config, ConfigError};

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes with its NUL).
const SOCKET_PATH_BYTES_MAX: usize = 107;

/// What Sluice keeps in `data_dir`, and whether each is a directory.
const DATA_DIR_ENTRIES: [(&str, bool); 8] = [
    ("spool", true),
    ("tls", true),
    ("throttle", true),
    ("sluice.db", false),
    (gateway::watermark::FILE_NAME, false),
    ("trace.db", false),
    ("control.sock", false),
    (METRICS_FILE, false),
];

/// The metrics' totals, saved every minute and at shutdown, restored at start.
pub const METRICS_FILE: &str = "metrics.prom";

/// Checks every path of `config`; the first problem found.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    let data_dir = &config.data_dir;
    writable_dir("data_dir", data_dir)?;
    for (name, is_dir) in DATA_DIR_ENTRIES {
        entry_kind(&data_dir.join(name), is_dir)?;
    }
    writable_dir("delivery.maildir_root", &config.gateway.delivery.maildir_root)?;
    if let Some(socket) = &config.gateway.control_socket {
        socket_path(socket)?;
    }
    tls_files(config)
}

fn invalid(field: &str, message: String) -> ConfigError {
    ConfigError::Invalid { field: field.to_string(), message }
}

/// `path` is a writable directory, or can be created as one.
fn writable_dir(field: &str, path: &Path) -> Result<(), ConfigError> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => probe_write(field, path, path),
        Ok(_) => Err(invalid(
            field,
            format!(
                "{} is a file, not a directory; name a directory (it is created if missing)",
                path.display()
            ),
        )),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            let ancestor = existing_ancestor(path);
            if !ancestor.is_dir() {
                return Err(invalid(
                    field,
                    format!(
                        "{} cannot be created: {} is a file, not a directory; choose another path",
                        path.display(),
                        ancestor.display()
                    ),
                ));
            }
            probe_write(field, path, &ancestor)
        }
        Err(e) => Err(invalid(
            field,
            format!("{}: {e}; check the permissions of the folders above it", path.display()),
        )),
    }
}

/// The nearest ancestor of `path` that exists (`.` for a relative path with none).
fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .skip(1)
        .map(|a| if a.as_os_str().is_empty() { Path::new(".") } else { a })
        .find(|a| fs::symlink_metadata(a).is_ok())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// Creates and removes a file in `dir`: the only test of writability that also holds for
/// read-only mounts, ACLs and root.
fn probe_write(field: &str, path: &Path, dir: &Path) -> Result<(), ConfigError> {
    let probe = dir.join(format!(".sluice-check-{}", std::process::id()));
    match fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => {
            let what = if dir == path {
                format!("{} is not writable ({e})", path.display())
            } else {
                format!("{} cannot be created: {} is not writable ({e})", path.display(), dir.display())
            };
            Err(invalid(
                field,
                format!("{what}; give the user Sluice runs as write access, or choose another directory"),
            ))
        }
    }
}

/// Something Sluice keeps in `data_dir`, when it exists, has the kind Sluice expects.
fn entry_kind(path: &Path, is_dir: bool) -> Result<(), ConfigError> {
    let Ok(meta) = fs::symlink_metadata(path) else { return Ok(()) };
    if meta.is_dir() == is_dir {
        return Ok(());
    }
    let (is, should) = if is_dir { ("a file", "a directory") } else { ("a directory", "a file") };
    Err(invalid(
        "data_dir",
        format!(
            "{} is {is} but Sluice keeps {should} there; move it away (or choose another data_dir)",
            path.display()
        ),
    ))
}

fn socket_path(socket: &Path) -> Result<(), ConfigError> {
    let bytes = socket.as_os_str().len();
    if bytes <= SOCKET_PATH_BYTES_MAX {
        return Ok(());
    }
    Err(invalid(
        "data_dir",
        format!(
            "the control socket {} is {bytes} bytes long, more than a Unix socket path can hold \
             ({SOCKET_PATH_BYTES_MAX}); choose a shorter data_dir",
            socket.display()
        ),
    ))
}

/// `<section>.cert_file` and `key_file` are readable, parse and belong together.
fn cert_and_key(section: &str, cert_file: &Path, key_file: &Path) -> Result<(), ConfigError> {
    let (cert_field, key_field) = (format!("{section}.cert_file"), format!("{section}.key_file"));
    tls::load_certs(cert_file).map_err(|e| {
        invalid(&cert_field, format!("{e}; give a PEM certificate (chain) readable by Sluice"))
    })?;
    tls::load_key(key_file).map_err(|e| {
        invalid(&key_field, format!("{e}; give the PEM private key of {cert_field}, readable by Sluice"))
    })?;
    let source = TlsSource::Files { cert_file: cert_file.to_path_buf(), key_file: key_file.to_path_buf() };
    tls::server_config(&source, None).map_err(|e| invalid(&key_field, e.to_string()))?;
    Ok(())
}

/// The operator's certificate and key (when given) are readable, parse and belong together;
/// the outbound CA bundle parses. (The client CA bundle is loaded with the config.)
fn tls_files(config: &Config) -> Result<(), ConfigError> {
    let g = &config.gateway;
    if let Some(TlsSource::Files { cert_file, key_file }) = &g.tls {
        cert_and_key("tls", cert_file, key_file)?;
    }
    if let Some(TlsSource::Files { cert_file, key_file }) = config.admin.as_ref().and_then(|a| a.tls.as_ref())
        && Some(TlsSource::Files { cert_file: cert_file.clone(), key_file: key_file.clone() }) != g.tls
    {
        cert_and_key("admin", cert_file, key_file)?;
    }
    gateway::delivery::outbound::trust_roots(g.delivery.tls_ca_file.as_deref())
        .map_err(|e| invalid("delivery.tls_ca_file", format!("{e}; give a PEM bundle of CA certificates")))?;
    Ok(())
}
