//! TLS for a test cluster: a CA of its own, a server certificate it signed naming
//! `127.0.0.1` only (so that `verify-full` to `localhost` is a name mismatch a test can show),
//! the server set to `ssl = on`, and TCP connections without TLS refused by `pg_hba.conf`, so
//! that a connection that succeeds over TCP was encrypted.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// The CA's certificate (PEM), beside the data folder, for `sslrootcert=`.
pub(super) fn enable(base: &Path, data: &Path, run_as: Option<u32>) -> PathBuf {
    let ca_key = KeyPair::generate().expect("a key for the test CA");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "bus-testkit CA");
    let ca_cert = ca.self_signed(&ca_key).expect("the test CA's certificate");
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().expect("a key for the test server");
    let mut server = CertificateParams::new(vec![super::HOST.to_owned()]).expect("parameters");
    server
        .distinguished_name
        .push(DnType::CommonName, super::HOST);
    let cert = server
        .signed_by(&key, &issuer)
        .expect("the test server's certificate");

    let ca_file = base.join("ca.crt");
    std::fs::write(&ca_file, ca_cert.pem()).expect("writing the test CA");
    std::fs::set_permissions(&ca_file, std::fs::Permissions::from_mode(0o644))
        .expect("permissions of the test CA");
    let cert_file = data.join("server.crt");
    let key_file = data.join("server.key");
    std::fs::write(&cert_file, cert.pem()).expect("writing server.crt");
    std::fs::write(&key_file, key.serialize_pem()).expect("writing server.key");
    // PostgreSQL refuses a key others can read, or one not its own.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
        .expect("permissions of server.key");
    if let Some(uid) = run_as {
        for file in [&cert_file, &key_file] {
            std::os::unix::fs::chown(file, Some(uid), None).expect("chown the server's TLS files");
        }
    }

    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .expect("postgresql.conf after initdb");
    writeln!(
        conf,
        "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'",
        cert_file.display(),
        key_file.display()
    )
    .expect("writing postgresql.conf");
    // The first matching line wins: TCP without TLS is refused before initdb's `trust` lines.
    let hba = data.join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf after initdb");
    std::fs::write(
        &hba,
        format!("hostnossl all all 0.0.0.0/0 reject\nhostnossl all all ::/0 reject\n{rules}"),
    )
    .expect("writing pg_hba.conf");
    ca_file
}
