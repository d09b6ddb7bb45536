//! Reaching the shared database: the `BUS_DB` URL, TLS, and the name of the server for the
//! messages users read.
//!
//! The URL is libpq's (`postgres://user:password@host:port/dbname?sslmode=…`). The client
//! crate knows `sslmode` `disable`, `prefer` and `require`; `verify-ca` and `verify-full`
//! (and `sslrootcert`, the file of the CAs to trust) are this module's: the crate is told
//! `require` and the TLS configuration does the verifying. As libpq does, `prefer` and
//! `require` encrypt without checking the server's certificate; `verify-ca` checks that a
//! trusted CA signed it, `verify-full` also that it names the host. Missing parts come from
//! `PGUSER`, `PGPASSWORD`, `PGHOST`, `PGPORT` and `PGDATABASE`, as libpq takes them, and a
//! missing password from the password file (`PGPASSFILE`, else `~/.pgpass`: [`super::pgpass`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long connecting may take before the call that needed it fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Not at all (`sslmode` `prefer` or `require`): encrypted only.
    Nothing,
    /// Signed by a trusted CA (`verify-ca`).
    Ca,
    /// Signed by a trusted CA and naming the host (`verify-full`).
    Full,
}

/// A parsed `BUS_DB` URL: how to connect, and what to call the server in messages.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    /// `host:port/dbname`, never the password: for logs and errors.
    server: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Parse `url`; the error says what is wrong with it (never echoing a password).
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut verify = None;
        let mut root_file = None;
        let mut encrypt = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => match value {
                    "disable" | "allow" => encrypt = Some(false),
                    "prefer" => {}
                    "require" => {
                        encrypt = Some(true);
                        verify = Some(Verify::Nothing);
                    }
                    "verify-ca" => {
                        encrypt = Some(true);
                        verify = Some(Verify::Ca);
                    }
                    "verify-full" => {
                        encrypt = Some(true);
                        verify = Some(Verify::Full);
                    }
                    other => bail!(
                        "BUS_DB has sslmode={other}: use disable, prefer, require, verify-ca or verify-full"
                    ),
                },
                "sslrootcert" => root_file = Some(percent_decode(value)),
                _ => kept.push(pair),
            }
        }
        let clean = match kept.is_empty() {
            true => base.to_owned(),
            false => format!("{base}?{}", kept.join("&")),
        };
        let mut config: tokio_postgres::Config = clean.parse().map_err(|e| {
            anyhow::anyhow!(
                "BUS_DB is not a PostgreSQL URL this busd can use ({e}): write it as postgres://USER@HOST:PORT/DBNAME"
            )
        })?;
        fill_from_env(&mut config);
        config.ssl_mode(match encrypt {
            Some(true) => SslMode::Require,
            Some(false) => SslMode::Disable,
            None => SslMode::Prefer,
        });
        config.connect_timeout(CONNECT_TIMEOUT);
        // A peer that vanished (a machine gone, not a process) is noticed within seconds on
        // both sides: here by TCP keepalives, on the server by the same settings for this
        // session, so that what PostgreSQL ties to the connection (presence) ends with it.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(5));
        config.keepalives_interval(Duration::from_secs(2));
        config.keepalives_retries(3);
        config.tcp_user_timeout(Duration::from_secs(15));
        config.options(
            "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3",
        );
        config.application_name("busd");
        let server = server_name(&config);
        let tls = match encrypt {
            Some(false) => None,
            _ => Some(MakeRustlsConnect::new(tls_config(
                verify.unwrap_or(Verify::Nothing),
                root_file.as_deref(),
            )?)),
        };
        Ok(Target {
            config,
            tls,
            server,
        })
    }

    /// `host:port/dbname`, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A blocking connection (for the database thread).
    pub fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        let config = postgres::Config::from(self.config.clone());
        match &self.tls {
            Some(tls) => config.connect(tls.clone()),
            None => config.connect(tokio_postgres::NoTls),
        }
    }

    /// An asynchronous connection, its connection future driven by a task of its own; the
    /// receiver gets what the server sends unasked (notifications) and ends with the
    /// connection, its last item the error that ended it.
    pub async fn connect_async(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio::sync::mpsc::Receiver<
                Result<tokio_postgres::Notification, tokio_postgres::Error>,
            >,
        ),
        tokio_postgres::Error,
    > {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let client = match &self.tls {
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                tokio::spawn(drive(connection, tx));
                client
            }
            None => {
                let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(drive(connection, tx));
                client
            }
        };
        Ok((client, rx))
    }
}

/// Drive `connection`, handing its notifications (and the error that ends it) to `tx`.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    tx: tokio::sync::mpsc::Sender<Result<tokio_postgres::Notification, tokio_postgres::Error>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures::StreamExt as _;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        let item = match message {
            Ok(tokio_postgres::AsyncMessage::Notification(n)) => Ok(n),
            Ok(_) => continue,
            Err(e) => Err(e),
        };
        let end = item.is_err();
        if tx.send(item).await.is_err() || end {
            return;
        }
    }
}

/// What libpq takes from the environment when the URL leaves it out.
fn fill_from_env(config: &mut tokio_postgres::Config) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if config.get_user().is_none()
        && let Some(user) = var("PGUSER").or_else(|| var("USER"))
    {
        config.user(user);
    }
    if config.get_password().is_none()
        && let Some(password) = var("PGPASSWORD")
    {
        config.password(password);
    }
    if config.get_hosts().is_empty() {
        config.host(var("PGHOST").unwrap_or_else(|| "localhost".into()));
    }
    if config.get_ports().is_empty()
        && let Some(port) = var("PGPORT").and_then(|p| p.parse().ok())
    {
        config.port(port);
    }
    if config.get_dbname().is_none()
        && let Some(db) = var("PGDATABASE")
    {
        config.dbname(db);
    }
    if config.get_password().is_none()
        && let Some(file) = super::pgpass::file()
    {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            // libpq's name for a connection over a Unix socket.
            _ => "localhost".to_owned(),
        };
        let user = config.get_user().unwrap_or_default().to_owned();
        let wanted = super::pgpass::Wanted {
            host: &host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            database: config.get_dbname().unwrap_or(&user),
            user: &user,
        };
        if let Some(password) = super::pgpass::lookup(&file, &wanted) {
            config.password(password);
        }
    }
}

fn server_name(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().or(config.get_user()).unwrap_or("");
    format!("{host}:{port}/{db}")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS configuration for `verify`, trusting the CAs of `root_file` (PEM) or else the
/// system's.
fn tls_config(verify: Verify, root_file: Option<&str>) -> anyhow::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS for the shared bus database")?;
    if verify == Verify::Nothing {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider())))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    match root_file {
        Some(file) => {
            let pem = std::fs::read(file)
                .with_context(|| format!("cannot read sslrootcert {file} of BUS_DB"))?;
            for cert in <CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(&pem)
            {
                let cert: CertificateDer<'static> =
                    cert.with_context(|| format!("sslrootcert {file} of BUS_DB is not PEM"))?;
                roots
                    .add(cert)
                    .with_context(|| format!("sslrootcert {file} of BUS_DB"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        bail!(
            "BUS_DB asks to verify the server's certificate, and no CA is trusted: add sslrootcert=/path/to/ca.pem"
        );
    }
    let webpki =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .context("TLS for the shared bus database")?;
    let config = builder.dangerous();
    Ok(match verify {
        Verify::Ca => config.with_custom_certificate_verifier(Arc::new(CaOnly(webpki))),
        _ => config.with_custom_certificate_verifier(webpki),
    }
    .with_no_client_auth())
}

/// `sslmode=require`: the session is encrypted, the certificate taken as it comes (libpq's
/// meaning of `require`); its signature over the handshake is still checked.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: a trusted CA signed the certificate, whatever host it names.
#[derive(Debug)]
struct CaOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_parses_with_its_tls_modes_and_names_its_server() {
        let t = Target::parse("postgres://bus@db.example:6543/team?sslmode=verify-full").unwrap();
        assert_eq!(t.server(), "db.example:6543/team");
        assert!(t.tls.is_some());
        let t = Target::parse("postgresql://bus@127.0.0.1/team?sslmode=disable").unwrap();
        assert_eq!(t.server(), "127.0.0.1:5432/team");
        assert!(t.tls.is_none());
        let e = Target::parse("postgres://bus@h/db?sslmode=sometimes").unwrap_err();
        assert!(e.to_string().contains("sslmode=sometimes"), "{e}");
        let e = Target::parse("postgres://bus@h/db?nonsense=1").unwrap_err();
        assert!(e.to_string().contains("BUS_DB"), "{e}");
    }

    #[test]
    fn the_password_never_shows() {
        assert_eq!(
            proto::paths::redact_url("postgres://bus:s3cret@h:5432/db?sslmode=require"),
            "postgres://bus:***@h:5432/db?sslmode=require"
        );
        let e = Target::parse("postgres://bus:s3cret@h/db?nonsense=1").unwrap_err();
        assert!(!format!("{e:#}").contains("s3cret"), "{e:#}");
    }
}
