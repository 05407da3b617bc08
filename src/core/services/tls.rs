//! `tls` checks: the certificate of a host:port (after a handshake) or of a file on disk: days
//! until it expires, subject and issuer. Expiry limits warn at 30 days and crit at 7 by default.
//!
//! The handshake accepts any certificate: this check reads the expiry, it does not decide trust
//! (an `http` check with `verify_tls` does). The service is up unless the certificate has
//! expired or cannot be read; how close the expiry is goes to [`expiry_status`] and rules on
//! `service.tls_days_left`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::AsyncWriteExt;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use super::CheckOutcome;
use super::tcp::{self, format_latency, millis};
use crate::core::model::{Status, Unit};
use crate::core::sources::failure::{describe_io_error, timed_out, without_os_code};
use crate::core::text::{printable, printable_path};

#[derive(Debug, Clone, PartialEq)]
pub enum TlsTarget {
    /// `host:port`, with an optional SNI name (defaults to the host).
    Endpoint {
        address: String,
        server_name: Option<String>,
    },
    /// A PEM or DER certificate file.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsCheck {
    pub target: TlsTarget,
    pub warn_days: u32,
    pub crit_days: u32,
}

/// Larger files are not certificates.
const MAX_FILE_BYTES: u64 = 1 << 20;

const SECS_PER_DAY: i64 = 86_400;

/// How long a finished endpoint check waits to close the connection politely.
const CLOSE_WAIT: Duration = Duration::from_millis(200);

pub async fn check(check: &TlsCheck, timeout: Duration) -> CheckOutcome {
    match &check.target {
        TlsTarget::Endpoint {
            address,
            server_name,
        } => check_endpoint(check, address, server_name.as_deref(), timeout).await,
        TlsTarget::File(path) => check_file(check, path, timeout).await,
    }
}

/// Crit when `days_left <= crit_days` (expired included), Warn when `<= warn_days`, else Ok.
pub fn expiry_status(days_left: i64, warn_days: u32, crit_days: u32) -> Status {
    if days_left <= i64::from(crit_days) {
        Status::Crit
    } else if days_left <= i64::from(warn_days) {
        Status::Warn
    } else {
        Status::Ok
    }
}

async fn check_endpoint(
    check: &TlsCheck,
    address: &str,
    server_name: Option<&str>,
    timeout: Duration,
) -> CheckOutcome {
    let (leaf, latency) = match handshake_apart(address, server_name, timeout).await {
        Err(detail) => return CheckOutcome::failed(detail),
        Ok(done) => done,
    };
    let mut outcome = match certificate_info(&leaf) {
        Some(info) => expiry_outcome(&info, now(), check.warn_days, check.crit_days),
        None => CheckOutcome::failed(format!(
            "the server's certificate cannot be parsed (handshake in {})",
            format_latency(latency)
        )),
    };
    outcome.latency = Some(latency);
    outcome
        .metrics
        .push(("service.latency_ms", millis(latency), Unit::Count));
    outcome
}

/// [`handshake`] on a thread of its own: its key exchange and signature work are busy CPU, which
/// on the console's single-threaded runtime would stall, and count in, every other check whose
/// clock is running (and its own clock would count their work).
async fn handshake_apart(
    address: &str,
    server_name: Option<&str>,
    timeout: Duration,
) -> Result<(Vec<u8>, Duration), String> {
    let address = address.to_owned();
    let server_name = server_name.map(str::to_owned);
    let apart = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the TLS check: {error}"))?;
        runtime.block_on(async {
            match tokio::time::timeout(timeout, handshake(&address, server_name.as_deref())).await {
                Err(_) => Err(timed_out(timeout)),
                Ok(done) => done,
            }
        })
    });
    apart
        .await
        .map_err(|error| format!("the TLS check stopped: {error}"))?
}

/// TCP connect and TLS handshake: the leaf certificate in DER and the time both took.
async fn handshake(
    address: &str,
    server_name: Option<&str>,
) -> Result<(Vec<u8>, Duration), String> {
    let name = server_name.unwrap_or_else(|| tcp::host_part(address));
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| format!("invalid server name \"{}\"", printable(name)))?;
    let config = client_config()?;
    let start = Instant::now();
    let stream = tcp::connect(address).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = connector
        .connect(server_name, stream)
        .await
        .map_err(|error| describe_handshake_error(&error))?;
    let latency = start.elapsed();
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| cert.to_vec())
        .ok_or_else(|| "the server sent no certificate".to_owned())?;
    // A polite close (close_notify), briefly: the certificate is read whatever happens here.
    let _ = tokio::time::timeout(CLOSE_WAIT, tls.shutdown()).await;
    Ok((leaf, latency))
}

/// The shared client configuration, and the random generator seeded (see
/// [`super::prepare`]); a failure shows again, with its reason, in the first check.
pub(super) fn prepare() {
    if let Ok(config) = client_config() {
        let mut seed = [0_u8; 16];
        // Only the seeding matters; the bytes are thrown away.
        let _ = config.crypto_provider().secure_random.fill(&mut seed);
    }
}

/// One client configuration for all endpoint checks, on ring without a process default.
fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS setup failed: {error}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// Accepts every certificate: we read its dates, we do not trust it.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn describe_handshake_error(error: &std::io::Error) -> String {
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return describe_rustls_error(tls);
    }
    match error.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            "connection closed during the TLS handshake".to_owned()
        }
        _ => describe_io_error(error),
    }
}

/// A TLS failure as a short line: `certificate not trusted (unknown issuer)`…
pub(crate) fn describe_rustls_error(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => "certificate not trusted (unknown issuer)",
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate expired"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not valid yet"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate is not valid for this host name"
            }
            CertificateError::Revoked => "certificate revoked",
            CertificateError::BadSignature => "certificate has a bad signature",
            CertificateError::BadEncoding => "certificate is malformed",
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "certificate is not for TLS servers"
            }
            CertificateError::Other(other) => return describe_other_certificate_error(other),
            _ => "certificate rejected",
        }
        .to_owned(),
        rustls::Error::AlertReceived(_) => "TLS handshake rejected by the server".to_owned(),
        rustls::Error::InvalidMessage(_) => {
            "TLS handshake failed: the server does not speak TLS".to_owned()
        }
        rustls::Error::PeerIncompatible(_) => {
            "TLS handshake failed: no protocol or cipher in common".to_owned()
        }
        rustls::Error::NoCertificatesPresented => "the server sent no certificate".to_owned(),
        other => format!("TLS handshake failed: {}", printable(&other.to_string())),
    }
}

/// Verifier errors without a variant of their own, e.g. webpki's `CaUsedAsEndEntity`.
fn describe_other_certificate_error(error: &rustls::OtherError) -> String {
    let text = error.to_string();
    match text.as_str() {
        "CaUsedAsEndEntity" => {
            "certificate not trusted (CA certificate used as a server certificate)".to_owned()
        }
        // A bare variant name reads better as words: `UnknownIssuer` → `unknown issuer`.
        name if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) => {
            let mut words = String::new();
            for c in name.chars() {
                if c.is_ascii_uppercase() && !words.is_empty() {
                    words.push(' ');
                }
                words.push(c.to_ascii_lowercase());
            }
            format!("certificate rejected ({words})")
        }
        _ => format!("certificate rejected ({})", printable(&text)),
    }
}

async fn check_file(check: &TlsCheck, path: &Path, timeout: Duration) -> CheckOutcome {
    let shown = printable_path(path);
    let data = match tokio::time::timeout(timeout, read_small_file(path)).await {
        Err(_) => return CheckOutcome::failed(format!("reading {shown} {}", timed_out(timeout))),
        Ok(Err(detail)) => return CheckOutcome::failed(format!("cannot read {shown}: {detail}")),
        Ok(Ok(data)) => data,
    };
    match file_certificate(&data) {
        Ok(der) => match certificate_info(&der) {
            Some(info) => expiry_outcome(&info, now(), check.warn_days, check.crit_days),
            None => CheckOutcome::failed(format!("cannot parse the certificate in {shown}")),
        },
        Err(problem) => CheckOutcome::failed(format!("{problem} in {shown}")),
    }
}

async fn read_small_file(path: &Path) -> Result<Vec<u8>, String> {
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|error| describe_file_error(&error))?;
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err("too large for a certificate".to_owned());
    }
    tokio::fs::read(path)
        .await
        .map_err(|error| describe_file_error(&error))
}

fn describe_file_error(error: &std::io::Error) -> String {
    without_os_code(&error.to_string())
}

/// The first certificate of a PEM file (other blocks, keys included, are skipped), or the whole
/// file as DER.
fn file_certificate(data: &[u8]) -> Result<Vec<u8>, &'static str> {
    if !data.windows(11).any(|window| window == b"-----BEGIN ") {
        return Ok(data.to_vec());
    }
    for block in x509_parser::pem::Pem::iter_from_buffer(data) {
        let Ok(block) = block else {
            return Err("malformed PEM");
        };
        if block.label.ends_with("CERTIFICATE") {
            return Ok(block.contents);
        }
    }
    Err("no certificate")
}

/// What the table shows of a certificate.
struct CertificateInfo {
    not_before: i64,
    not_after: i64,
    subject: String,
    issuer: String,
}

fn certificate_info(der: &[u8]) -> Option<CertificateInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let validity = cert.validity();
    Some(CertificateInfo {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        subject: short_name(cert.subject()),
        issuer: short_name(cert.issuer()),
    })
}

/// `CN=localhost` when there is a common name, else the whole name; printable and bounded.
fn short_name(name: &X509Name<'_>) -> String {
    let text = match name
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
    {
        Some(cn) => format!("CN={cn}"),
        None => name.to_string(),
    };
    let text = if text.is_empty() {
        "(empty name)".to_owned()
    } else {
        text
    };
    let mut text = printable(&text);
    if text.chars().count() > 80 {
        text = text.chars().take(79).chain(['…']).collect();
    }
    text
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn day(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .map(|time| time.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "?".to_owned())
}

/// Under two days in hours (`41 h`, `under an hour`), else in whole days, rounded.
fn time_span(seconds: i64) -> String {
    if seconds < 2 * SECS_PER_DAY {
        return match seconds / 3600 {
            0 => "under an hour".to_owned(),
            hours => format!("{hours} h"),
        };
    }
    days((seconds as f64 / SECS_PER_DAY as f64).round() as i64)
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// The outcome for a readable certificate at `now` (Unix seconds).
fn expiry_outcome(
    info: &CertificateInfo,
    now: i64,
    warn_days: u32,
    crit_days: u32,
) -> CheckOutcome {
    let seconds_left = info.not_after - now;
    // Rounded as the expiry instant implies: 4.99 days is 5 days (what `openssl x509 -enddate`
    // leads a person to count), not 4.
    let days_left = (seconds_left as f64 / SECS_PER_DAY as f64).round() as i64;
    let until = day(info.not_after);
    let names = format!("{}, issuer {}", info.subject, info.issuer);
    let (ok, mut detail) = if seconds_left < 0 {
        let when = time_span(-seconds_left);
        (false, format!("expired {when} ago ({until}), {names}"))
    } else {
        let when = time_span(seconds_left);
        let detail = match expiry_status(days_left, warn_days, crit_days) {
            Status::Ok => format!("valid until {until} ({when} left), {names}"),
            _ => format!("expires in {when} ({until}), {names}"),
        };
        (true, detail)
    };
    if info.not_before > now {
        detail.push_str(&format!(", not valid before {}", day(info.not_before)));
    }
    CheckOutcome {
        ok,
        latency: None,
        detail,
        metrics: vec![("service.tls_days_left", days_left as f64, Unit::Count)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(not_after: i64) -> CertificateInfo {
        CertificateInfo {
            not_before: 0,
            not_after,
            subject: "CN=localhost".into(),
            issuer: "CN=Test CA".into(),
        }
    }

    #[test]
    fn levels_by_days_left() {
        assert_eq!(expiry_status(-3, 30, 7), Status::Crit);
        assert_eq!(expiry_status(7, 30, 7), Status::Crit);
        assert_eq!(expiry_status(8, 30, 7), Status::Warn);
        assert_eq!(expiry_status(30, 30, 7), Status::Warn);
        assert_eq!(expiry_status(31, 30, 7), Status::Ok);
    }

    #[test]
    fn details_say_when() {
        let now = 1_790_000_000;
        let soon = expiry_outcome(&info(now + 5 * SECS_PER_DAY + 60), now, 30, 7);
        assert!(soon.ok);
        assert!(
            soon.detail.starts_with("expires in 5 days ("),
            "{}",
            soon.detail
        );
        assert!(soon.detail.ends_with("CN=localhost, issuer CN=Test CA"));
        assert_eq!(soon.metrics[0].1, 5.0);

        let later = expiry_outcome(&info(now + 90 * SECS_PER_DAY), now, 30, 7);
        assert!(later.detail.starts_with("valid until "), "{}", later.detail);

        let expired = expiry_outcome(&info(now - 3 * SECS_PER_DAY - 60), now, 30, 7);
        assert!(!expired.ok);
        assert!(
            expired.detail.starts_with("expired 3 days ago"),
            "{}",
            expired.detail
        );
        assert_eq!(expired.metrics[0].1, -3.0);
    }

    #[test]
    fn days_are_rounded_and_the_last_two_are_hours() {
        let now = 1_790_000_000;
        // 4.99 days: openssl's end date implies 5 days, not 4.
        let almost_five = expiry_outcome(&info(now + 5 * SECS_PER_DAY - 900), now, 30, 7);
        assert!(
            almost_five.detail.starts_with("expires in 5 days ("),
            "{}",
            almost_five.detail
        );
        assert_eq!(almost_five.metrics[0].1, 5.0);
        let hours = expiry_outcome(&info(now + 41 * 3600 + 120), now, 30, 7);
        assert!(
            hours.detail.starts_with("expires in 41 h ("),
            "{}",
            hours.detail
        );
        let minutes = expiry_outcome(&info(now + 600), now, 30, 7);
        assert!(
            minutes.detail.starts_with("expires in under an hour ("),
            "{}",
            minutes.detail
        );
        let just_expired = expiry_outcome(&info(now - 5 * 3600), now, 30, 7);
        assert!(
            just_expired.detail.starts_with("expired 5 h ago"),
            "{}",
            just_expired.detail
        );
    }

    #[test]
    fn pem_blocks_are_found() {
        let pem = b"junk\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\
                    -----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
        assert_eq!(file_certificate(pem), Ok(vec![1, 2, 3]));
        assert_eq!(file_certificate(&[0x30, 0x03]), Ok(vec![0x30, 0x03]));
    }
}
