//! Paced SMTP load with latency measurement (a benchmark, not a test): `sessions`
//! connections send `size`-byte messages at a fixed total `rate` for `seconds`, and the time
//! from writing the end-of-data line to reading the `250` is recorded for every message.
//! Prints throughput and p50/p90/p99/max. Used by `bench/smtp_accept.sh` to measure p99 at
//! half of the peak rate it found.
//!
//! `cargo bench -p sluice --bench eod_latency -- --addr 127.0.0.1:2525 --rate 500
//!  --seconds 20 --sessions 50 --size 4096 [--to rcpt@example.test]`

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

struct Options {
    addr: String,
    rate: f64,
    seconds: f64,
    sessions: usize,
    size: usize,
    to: String,
}

fn options() -> Options {
    let mut o = Options {
        addr: "127.0.0.1:2525".into(),
        rate: 200.0,
        seconds: 10.0,
        sessions: 50,
        size: 4096,
        to: "rcpt@example.test".into(),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--addr" => o.addr = value,
            "--rate" => o.rate = value.parse().expect("--rate: messages per second"),
            "--seconds" => o.seconds = value.parse().expect("--seconds"),
            "--sessions" => o.sessions = value.parse().expect("--sessions"),
            "--size" => o.size = value.parse().expect("--size: bytes"),
            "--to" => o.to = value,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

fn reply(reader: &mut BufReader<TcpStream>) -> u16 {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return 0;
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        }
    }
}

fn body(size: usize, to: &str) -> Vec<u8> {
    let mut b = format!("From: load@bench.test\r\nTo: {to}\r\nSubject: paced load\r\n\r\n").into_bytes();
    while b.len() < size {
        b.extend_from_slice(b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n");
    }
    b.truncate(size.max(8));
    b.extend_from_slice(b"\r\n");
    b
}

/// One session: sends at `interval` from `start + offset`, returns latencies and failures.
fn session(o: &Options, offset: Duration, interval: Duration, end: Instant) -> (Histogram<u64>, u64, u64) {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut sent, mut failed) = (0u64, 0u64);
    let Ok(stream) = TcpStream::connect(&o.addr) else { return (hist, 0, 1) };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let data = body(o.size, &o.to);
    let mut step = |line: &str, reader: &mut BufReader<TcpStream>| {
        writer.write_all(line.as_bytes()).is_ok() && reply(reader) / 100 <= 3
    };
    if reply(&mut reader) != 220 || !step("EHLO load.bench.test\r\n", &mut reader) {
        return (hist, 0, 1);
    }
    let mut due = Instant::now() + offset;
    while due < end {
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        due += interval;
        let ok = step("MAIL FROM:<load@bench.test>\r\n", &mut reader)
            && step(&format!("RCPT TO:<{}>\r\n", o.to), &mut reader)
            && step("DATA\r\n", &mut reader);
        let mut writer = reader.get_ref().try_clone().expect("clone");
        if !ok || writer.write_all(&data).is_err() {
            failed += 1;
            break;
        }
        let started = Instant::now();
        if writer.write_all(b".\r\n").is_err() || reply(&mut reader) != 250 {
            failed += 1;
            break;
        }
        let _ = hist.record(started.elapsed().as_micros() as u64);
        sent += 1;
    }
    (hist, sent, failed)
}

fn main() {
    let o = options();
    let interval = Duration::from_secs_f64(o.sessions as f64 / o.rate);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(o.seconds);
    let results: Vec<(Histogram<u64>, u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..o.sessions)
            .map(|i| {
                let offset = interval.mul_f64(i as f64 / o.sessions as f64);
                let o = &o;
                scope.spawn(move || session(o, offset, interval, end))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("session thread")).collect()
    });
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut sent, mut failed) = (0, 0);
    for (h, s, f) in &results {
        total.add(h).expect("merge");
        sent += s;
        failed += f;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "eod_latency: target {:.0} msgs/s, achieved {:.0} msgs/s ({sent} messages, {failed} failed sessions) over {} sessions",
        o.rate,
        sent as f64 / elapsed,
        o.sessions
    );
    println!(
        "eod_latency: end of DATA -> 250 (client side): p50={} us p90={} us p99={} us max={} us",
        total.value_at_quantile(0.5),
        total.value_at_quantile(0.9),
        total.value_at_quantile(0.99),
        total.max()
    );
}
