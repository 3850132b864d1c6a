//! TLS for TCP connections (rustls with the `ring` provider), by libpq's `sslmode`:
//! `verify-full` checks the chain against `sslrootcert` and the host name; `verify-ca` the chain
//! only; `require` and `prefer` encrypt without checking, unless a root certificate is
//! given, when they check the chain as `verify-ca` does (libpq's rule).

use super::client::{PgError, Result};
use super::uri::{Host, PgConfig, SslMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};
use rustls::{Error, RootCertStore, SignatureScheme, StreamOwned};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Runs the TLS handshake on a socket the server agreed to encrypt, before `deadline`.
pub fn handshake(config: &PgConfig, mut sock: TcpStream, deadline: Instant) -> Result<TlsStream> {
    let Host::Tcp(host) = &config.host else {
        return Err(PgError::Tls("TLS runs over TCP only".into()));
    };
    // ring rather than aws-lc-rs: it builds with a C compiler alone, on any fresh machine.
    // rustls marks it deprecated for lacking post-quantum key exchange; a database link
    // inside one deployment is not where that matters first.
    #[allow(deprecated)]
    let provider = Arc::new(ring::default_provider());
    let supported = provider.signature_verification_algorithms;
    let checked = match (config.sslmode, &config.sslrootcert) {
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(PgError::Tls(
                "sslmode verify-ca and verify-full need a root certificate: set sslrootcert \
                 (or PGSSLROOTCERT)"
                    .into(),
            ))
        }
        (_, Some(file)) => Some(web_pki(file, provider.clone())?),
        (_, None) => None,
    };
    let verifier = Arc::new(Verifier {
        chain: checked,
        name: config.sslmode == SslMode::VerifyFull,
        supported,
    });
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone())
        .map_err(|_| PgError::Tls(format!("{host:?} is not a valid TLS server name")))?;
    let mut conn = ClientConnection::new(Arc::new(tls), name).map_err(tls_error)?;
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(PgError::Tls("the TLS handshake timed out".into()));
        }
        sock.set_read_timeout(Some(left))?;
        conn.complete_io(&mut sock).map_err(|e| {
            PgError::Tls(format!("TLS with {} failed: {e}", config.describe_host()))
        })?;
    }
    Ok(StreamOwned::new(conn, sock))
}

fn web_pki(
    file: &std::path::Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    let unreadable = |e: &dyn std::fmt::Display| {
        PgError::Tls(format!(
            "cannot read the root certificate {}: {e}",
            file.display()
        ))
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|e| unreadable(&e))? {
        let cert = cert.map_err(|e| unreadable(&e))?;
        roots.add(cert).map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"no certificate in it"));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| PgError::Tls(e.to_string()))
}

fn tls_error(e: Error) -> PgError {
    PgError::Tls(e.to_string())
}

/// The checks `sslmode` asks for: the chain (when a root certificate is known) and the name.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    name: bool,
    supported: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.supported)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.supported)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.supported.supported_schemes()
    }
}
