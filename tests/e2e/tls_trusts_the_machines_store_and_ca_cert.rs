//! TLS as the machine has it: the uploader trusts the machine's CA store
//! (here `SSL_CERT_FILE`, which rustls-native-certs reads instead of the
//! system's) plus `--ca-cert`, for the upload **and** the token request,
//! against a stand-in that speaks only HTTPS with a private CA's
//! certificate (as behind a TLS-inspecting proxy).
use std::path::Path;
use std::process::{Command, Output};
use tracespool_tests::cli::expect_exit;

use tracespool_tests::standin::StandIn;
use tracespool_tests::tls::PrivateCa;
use tracespool_tests::{record_spans, test_account, write_key_file};

const BIN: &str = env!("CARGO_BIN_EXE_tracespool");

fn upload(
    spool: &Path,
    s: &StandIn,
    key: &Path,
    ca_cert: Option<&Path>,
    env: &[(&str, &Path)],
) -> Output {
    let mut c = Command::new(BIN);
    c.args([
        "upload",
        "--once",
        "--max-duration",
        "10s",
        "--simulated-waits",
    ])
    .args(["--endpoint", &s.endpoint(), "--credentials"])
    .arg(key)
    .arg(spool)
    .env_remove("SSL_CERT_FILE")
    .env_remove("SSL_CERT_DIR");
    if let Some(p) = ca_cert {
        c.arg("--ca-cert").arg(p);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn ca_cert_reaches_the_token_request_and_the_upload() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("t.spool");
    record_spans(&spool, 30);
    let ca = PrivateCa::generate();
    let ca_pem = ca.write_ca(dir.path());
    let s = StandIn::start_tls(test_account(), &ca).unwrap();
    assert!(s.token_uri().starts_with("https://"));
    let key = write_key_file(dir.path(), &s, "proj-tls");

    // Not trusted: the token request fails on the certificate, nothing is
    // sent, every span waits.
    let out = upload(&spool, &s, &key, None, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("token request to https://"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(s.token_requests(), 0);
    assert_eq!(s.accepted_count(), 0);

    // --ca-cert: the token and the spans go through.
    let out = upload(&spool, &s, &key, Some(&ca_pem), &[]);
    expect_exit(&out, 0);
    assert!(s.token_requests() >= 1);
    assert_eq!(s.accepted_count(), 30);
}

#[test]
fn the_machine_s_store_is_trusted_without_ca_cert() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("m.spool");
    record_spans(&spool, 10);
    let ca = PrivateCa::generate();
    let ca_pem = ca.write_ca(dir.path());
    let s = StandIn::start_tls(test_account(), &ca).unwrap();
    let key = write_key_file(dir.path(), &s, "proj-tls");
    // The CA in the machine's store (SSL_CERT_FILE stands for it).
    let out = upload(&spool, &s, &key, None, &[("SSL_CERT_FILE", &ca_pem)]);
    expect_exit(&out, 0);
    assert_eq!(s.accepted_count(), 10);
    // doctor says which roots it trusts.
    let out = Command::new(BIN)
        .args(["doctor", "--endpoint", &s.endpoint(), "--credentials"])
        .arg(&key)
        .env("SSL_CERT_FILE", &ca_pem)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("trusting the machine's CA store ("), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
}
