//! Sluice's integration tests: the real `sluice` binary on loopback, driven
//! by real clients nobody here wrote (swaks, Python's smtplib, Postfix's
//! smtp-source) and by a raw TcpStream for limits, smuggling and crashes.
//!
//! Every test starts its own server on a free port with its own data
//! directory, and every read has a timeout. Tools missing = test failure
//! (install them with scripts/install-test-deps.sh).

mod harness;

mod admin_api;
mod auth;
mod bounces;
mod cert_connector;
mod cli;
mod crash;
mod delivery;
mod directory;
mod directory_damage;
mod dnsbl;
mod faults;
mod fleet;
mod fleet_redis;
mod large_messages;
mod limits;
mod message_trace;
mod open_relay;
mod operator_cli;
mod outbound;
mod outbound_protection;
mod peers;
mod postfix;
mod prometheus;
mod proxy;
mod python;
mod queue_delete;
mod queue_transfer;
mod redis_server;
mod scanner;
mod shared_connectors;
mod simulate;
mod slow_clients;
mod smtp_source;
mod smuggling;
mod swaks;
mod tenants;
mod throttle;
mod tidy;
mod timeouts;
mod transaction;
mod web;
