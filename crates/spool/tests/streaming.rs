//! Messages whose data arrives in chunks (`begin_message`) and data read back as a stream
//! (`open_data`): small data keeps the inline path, large data lives in a data file that is
//! synced before its record, read back with its CRC checked, removed when the message is
//! finished, kept by compaction, and checked again by recovery.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc;

use common::*;
use spool::{DataWriter, MessageId, Spool, SpoolConfig, SpoolError};

const INLINE_MAX: usize = 8192;

fn streaming(dir: &Path) -> SpoolConfig {
    SpoolConfig { inline_bytes_max: INLINE_MAX, ..SpoolConfig::new(dir) }
}

/// Writes `data` in chunks of uneven sizes (1 byte to 200 KiB).
fn write_chunks(writer: &mut DataWriter, data: &[u8]) {
    let sizes = [1, 7, 4096, 65_536, 200_000, 13];
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at == data.len() {
            break;
        }
        let end = (at + size).min(data.len());
        writer.write_all(&data[at..end]).unwrap();
        at = end;
    }
    writer.flush().unwrap();
}

fn submit(writer: DataWriter, recipients: usize) -> Result<MessageId, SpoolError> {
    let (tx, rx) = mpsc::channel();
    writer.submit(envelope(recipients), 7, Box::new(move |r| tx.send(r).unwrap()));
    rx.recv().unwrap()
}

fn stream(spool: &Spool, data: &[u8]) -> MessageId {
    let mut writer = spool.begin_message();
    write_chunks(&mut writer, data);
    assert_eq!(writer.len(), data.len() as u64);
    assert_eq!(writer.is_spilled(), data.len() > INLINE_MAX);
    submit(writer, 2).unwrap()
}

fn data_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Reads through `open_data` with a small buffer.
fn read_streamed(spool: &Spool, id: MessageId) -> std::io::Result<Vec<u8>> {
    let mut reader = spool.open_data(id).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn small_data_written_in_chunks_takes_the_inline_path() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(streaming(dir.path()));
    let body = data(1, INLINE_MAX);
    let id = stream(&spool, &body);
    let empty = stream(&spool, b"");
    assert!(data_files(dir.path()).is_empty());
    assert_eq!(spool.read_data(id).unwrap(), body);
    assert_eq!(read_streamed(&spool, id).unwrap(), body);
    assert_eq!(spool.read_data(empty).unwrap(), b"");
    let stats = spool.stats();
    assert_eq!((stats.live_messages, stats.data_file_bytes, stats.batches), (2, 0, 2));
}

#[test]
fn large_data_goes_into_a_data_file_and_streams_back() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(streaming(dir.path()));
    let body = data(2, 3 << 20);
    let id = stream(&spool, &body);
    assert_eq!(data_files(dir.path()), vec![format!("{id}.eml")]);
    assert_eq!(std::fs::read(dir.path().join(format!("data/{id}.eml"))).unwrap(), body);
    assert_eq!(spool.open_data(id).unwrap().len(), body.len() as u64);
    assert_eq!(read_streamed(&spool, id).unwrap(), body);
    assert_eq!(spool.read_envelope(id).unwrap(), envelope(2));
    let stats = spool.stats();
    assert_eq!(stats.data_file_bytes, body.len() as u64);
    assert!(stats.bytes < 1024, "the log holds only the record: {} bytes", stats.bytes);
    spool.close();
    let (spool, found) = open_config(streaming(dir.path()));
    assert_eq!((found[0].id, found[0].size), (id, body.len() as u64));
    assert_eq!(spool.read_data(id).unwrap(), body);
    // Partly done, the file stays; finished, it goes once the record is durable.
    complete(&spool, id, &[0]).unwrap();
    assert_eq!(data_files(dir.path()).len(), 1);
    complete(&spool, id, &[1]).unwrap();
    assert!(data_files(dir.path()).is_empty());
    assert_eq!(spool.stats().data_file_bytes, 0);
}

#[test]
fn an_abandoned_message_leaves_no_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(streaming(dir.path()));
    let big = data(3, 100_000);
    for abandon in [DataWriter::abort as fn(DataWriter), drop] {
        let mut writer = spool.begin_message();
        write_chunks(&mut writer, &big);
        assert!(writer.is_spilled() && data_files(dir.path()).len() == 1);
        abandon(writer);
        assert!(data_files(dir.path()).is_empty());
    }
    // No recipients: refused, and the file goes.
    let mut writer = spool.begin_message();
    write_chunks(&mut writer, &big);
    assert!(matches!(submit(writer, 0), Err(SpoolError::NoRecipients)));
    assert!(data_files(dir.path()).is_empty());
    // A process that dies while writing leaves its file: recovery removes it.
    let mut writer = spool.begin_message();
    write_chunks(&mut writer, &big);
    std::mem::forget(writer);
    let kept = stream(&spool, &big);
    spool.close();
    assert_eq!(data_files(dir.path()).len(), 2);
    let opened = Spool::open(streaming(dir.path())).unwrap();
    assert_eq!(opened.report.orphan_files_removed, 1);
    assert!(opened.report.is_clean());
    assert_eq!(data_files(dir.path()), vec![format!("{kept}.eml")]);
    assert_eq!(opened.spool.read_data(kept).unwrap(), big);
}

#[test]
fn a_damaged_data_file_is_refused_on_read_and_quarantined_by_recovery() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(streaming(dir.path()));
    let body = data(4, 50_000);
    let (damaged, missing, intact) = (stream(&spool, &body), stream(&spool, &body), stream(&spool, &body));
    let path = |id: MessageId| dir.path().join(format!("data/{id}.eml"));
    let file = std::fs::OpenOptions::new().write(true).open(path(damaged)).unwrap();
    file.write_all_at(b"X", 20_000).unwrap();
    // The reader hands out the data up to the end and fails the read that would finish it.
    let mut reader = spool.open_data(damaged).unwrap();
    let mut first = vec![0u8; 49_000];
    reader.read_exact(&mut first).unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("message data fails its CRC"), "{err}");
    // And stays failed, so that no retry takes the data for complete.
    assert!(reader.read(&mut [0u8; 10]).is_err());
    assert!(matches!(
        spool.read_data(damaged),
        Err(SpoolError::Corrupt { reason: "message data fails its CRC", .. })
    ));
    file.set_len(40_000).unwrap();
    assert!(matches!(
        spool.open_data(damaged),
        Err(SpoolError::Corrupt { reason: "data file has the wrong length", .. })
    ));
    std::fs::remove_file(path(missing)).unwrap();
    let err = spool.read_data(missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("spool file {} is damaged at offset 0: data file is missing", path(missing).display())
    );
    spool.close();
    // Recovery checks lengths: the short file goes into quarantine, both messages are lost.
    let opened = Spool::open(streaming(dir.path())).unwrap();
    assert_eq!(opened.messages.iter().map(|m| m.id).collect::<Vec<_>>(), vec![intact]);
    let mut lost = vec![damaged, missing];
    lost.sort();
    assert_eq!(opened.report.lost_messages, lost);
    let q = &opened.report.quarantined;
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].file.clone(), q[0].len), (dir.path().join(format!("quarantine/{damaged}.eml")), 40_000));
    opened.spool.close();
    // Reported once: the next recovery knows they were lost.
    let opened = Spool::open(streaming(dir.path())).unwrap();
    assert!(opened.report.is_clean(), "{:?}", opened.report);
    assert_eq!(opened.spool.read_data(intact).unwrap(), body);
}

#[test]
fn a_data_file_outlives_the_compaction_of_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig { segment_bytes_max: 16 * 1024, ..streaming(dir.path()) };
    let (spool, _) = open_config(config.clone());
    let big = data(5, 1 << 20);
    let pinned = stream(&spool, &big);
    for _ in 0..40 {
        let id = enqueue(&spool, envelope(1), 0, data(6, 1500)).unwrap();
        complete(&spool, id, &[0]).unwrap();
    }
    settle(&spool);
    assert!(spool.stats().compactions >= 1);
    assert_eq!(data_files(dir.path()), vec![format!("{pinned}.eml")]);
    assert_eq!(spool.read_data(pinned).unwrap(), big);
    spool.close();
    let (spool, found) = open_config(config);
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), vec![pinned]);
    assert_eq!(spool.read_data(pinned).unwrap(), big);
}

#[test]
fn streamed_and_small_messages_share_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = open_config(streaming(dir.path()));
    let (threads, per_thread) = (8, 12);
    std::thread::scope(|s| {
        for t in 0..threads {
            let spool = spool.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    let body = data(t * 100 + i, if i % 3 == 0 { 40_000 } else { 600 });
                    let id = stream(&spool, &body);
                    assert_eq!(spool.read_data(id).unwrap(), body);
                }
            });
        }
    });
    let stats = spool.stats();
    assert_eq!(stats.live_messages, (threads * per_thread) as u64);
    assert_eq!(data_files(dir.path()).len(), threads * per_thread.div_ceil(3));
    spool.close();
    let (_, found) = open_config(streaming(dir.path()));
    assert_eq!(found.len(), threads * per_thread);
}
