//! The HTTP client of a remote bus: rustls (ring) trusting the system's roots and, with
//! `BUS_CA=path.pem`, the certificates in that file too.

use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A reqwest client for `BUS_URL`, trusting the system roots plus those of `ca` (a PEM file).
pub fn http_client(ca: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    // A system root that does not parse is skipped: the others still verify.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca {
        let pem = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read BUS_CA {}: {e}; point it at a PEM file",
                path.display()
            )
        })?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| {
                anyhow::anyhow!(
                    "BUS_CA {} is not a PEM certificate file: {e}",
                    path.display()
                )
            })?;
            roots.add(cert).map_err(|e| {
                anyhow::anyhow!(
                    "BUS_CA {} holds an unusable certificate: {e}",
                    path.display()
                )
            })?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!("BUS_CA {} holds no PEM certificate", path.display());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()?)
}
