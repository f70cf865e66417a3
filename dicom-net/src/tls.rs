//! DICOM TLS for the provider (PS3.15 B.1, BCP 195 through rustls's
//! defaults), with the client's certificate handed to the association
//! check.
//!
//! dicom-ul runs the handshake and then reads the A-ASSOCIATE-RQ; to let the
//! application bind a certificate to an AE title and answer A-ASSOCIATE-RJ
//! (not an abort after the fact), each connection gets its own rustls
//! configuration whose client certificate verifier remembers the verified
//! end-entity certificate for that connection.

use std::sync::{Arc, Mutex};

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig};

/// The provider's TLS settings.
#[derive(Debug)]
pub struct TlsServer {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
}

/// The certificate a connection's client presented, once verified.
pub(crate) type CapturedCertificate = Arc<Mutex<Option<Vec<u8>>>>;

impl TlsServer {
    /// Our certificate chain (leaf first) and key; with `client_roots`,
    /// clients must present a certificate that chains to one of them.
    pub fn new(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_roots: Option<rustls::RootCertStore>,
    ) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_verifier = match client_roots {
            None => None,
            Some(roots) => Some(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| rustls::Error::General(e.to_string()))?,
            ),
        };
        let tls = TlsServer {
            certs,
            key,
            provider,
            client_verifier,
        };
        // Fail at start-up, not at the first connection.
        tls.for_connection()?;
        Ok(tls)
    }

    /// A configuration for one connection, and where it leaves the client's
    /// verified certificate.
    pub(crate) fn for_connection(
        &self,
    ) -> Result<(Arc<ServerConfig>, CapturedCertificate), rustls::Error> {
        let captured = CapturedCertificate::default();
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.client_verifier {
            None => builder.with_no_client_auth(),
            Some(inner) => builder.with_client_cert_verifier(Arc::new(Capture {
                inner: inner.clone(),
                captured: captured.clone(),
            })),
        };
        let config = builder.with_single_cert(self.certs.clone(), self.key.clone_key())?;
        Ok((Arc::new(config), captured))
    }
}

/// A verifier that remembers what it verified.
#[derive(Debug)]
struct Capture {
    inner: Arc<dyn ClientCertVerifier>,
    captured: CapturedCertificate,
}

impl ClientCertVerifier for Capture {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if let Ok(mut slot) = self.captured.lock() {
            *slot = Some(end_entity.as_ref().to_vec());
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
