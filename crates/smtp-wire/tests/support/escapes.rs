//! The escapes of transcript lines (`C:` / `S:` files), shared by smtp-wire's transcript
//! runner and the gateway's (which includes this file by path): `\r`, `\n`, `\0`, `\\`, and
//! `\xHH` for any other byte (a TLS record's `\x16\x03`).

/// The bytes a transcript line stands for.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let byte = u8::from_str_radix(&hex, 16).map_err(|_| format!("bad escape \\x{hex}"))?;
                out.push(byte);
            }
            other => return Err(format!("bad escape \\{other:?}")),
        }
    }
    Ok(out)
}
