//! Spool recovery on arbitrary segment bytes: `Spool::open` never panics, and every message it
//! reports live can be read back (envelope and data) or fails with an error, never a panic.
//!
//! The input is one segment file. When its first byte is odd, the target first makes the
//! header and every record frame it finds valid again (magic, version, the CRCs over the
//! segment's salt, as the `record` module's `//!` documents format 3), so that mutated
//! payloads get past the CRCs into the record decoders; otherwise the bytes are used as they
//! are, which exercises resynchronisation and quarantine.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use spool::{Spool, SpoolConfig};

const HEADER_BYTES: usize = 40;
const SEGMENT_MAGIC: &[u8; 8] = b"SLUICESP";
const RECORD_MAGIC: [u8; 4] = [0xF8, 0x5D, 0x1C, 0xE0];
const FRAME_BYTES: usize = 25;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, segment)) = input.split_first() else { return };
    let mut segment = segment.to_vec();
    if mode & 1 == 1 {
        repair(&mut segment);
    }
    let dir = scratch_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("segments")).expect("scratch dir");
    std::fs::write(dir.join("segments").join(format!("{:016x}.log", 1)), &segment).expect("segment");
    if let Ok(opened) = Spool::open(SpoolConfig::new(&dir)) {
        for message in &opened.messages {
            let _ = opened.spool.read_envelope(message.id);
            let _ = opened.spool.read_data(message.id);
        }
        opened.spool.close();
    }
    let _ = std::fs::remove_dir_all(&dir);
});

/// One directory per fuzzing process, in memory when the system has /dev/shm (recovery and
/// the writer sync files and directories).
fn scratch_dir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("sluice-fuzz-spool-{}", std::process::id()))
}

fn crc(salt: &[u8], bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(salt);
    hasher.update(bytes);
    hasher.finalize()
}

/// Makes the format 3 header (seq 1) and each frame found after it pass their CRCs, with
/// payload lengths cut to what the file holds.
fn repair(segment: &mut [u8]) {
    if segment.len() < HEADER_BYTES {
        return;
    }
    segment[0..8].copy_from_slice(SEGMENT_MAGIC);
    segment[8..12].copy_from_slice(&3u32.to_le_bytes());
    segment[16..24].copy_from_slice(&1u64.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&segment[8..12]);
    hasher.update(&segment[16..HEADER_BYTES]);
    segment[12..16].copy_from_slice(&hasher.finalize().to_le_bytes());
    let salt: [u8; 8] = segment[32..40].try_into().expect("eight bytes");
    let mut at = HEADER_BYTES;
    while at + FRAME_BYTES <= segment.len() {
        if segment[at..at + 4] != RECORD_MAGIC {
            at += 1;
            continue;
        }
        let room = segment.len() - at - FRAME_BYTES;
        let announced = u32::from_le_bytes(segment[at + 5..at + 9].try_into().expect("four bytes")) as usize;
        let len = announced.min(room);
        segment[at + 5..at + 9].copy_from_slice(&(len as u32).to_le_bytes());
        let payload_crc = crc(&salt, &segment[at + FRAME_BYTES..at + FRAME_BYTES + len]);
        segment[at + 17..at + 21].copy_from_slice(&payload_crc.to_le_bytes());
        let frame_crc = crc(&salt, &segment[at..at + 21]);
        segment[at + 21..at + 25].copy_from_slice(&frame_crc.to_le_bytes());
        at += FRAME_BYTES + len;
    }
}
