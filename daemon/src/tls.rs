//! TLS for the daemon's MQTT connections (the source and the alert channel): rustls with the
//! ring provider, the CA from `ca_file`, and an optional client certificate.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Pem {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
    #[error("client_cert_file and client_key_file go together")]
    HalfClientAuth,
}

/// A client configuration trusting `ca_file` (TLS 1.2 and 1.3).
pub fn client_config(t: &TlsConfig) -> Result<rustls::ClientConfig, TlsError> {
    let pem = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| TlsError::Pem { path, source }
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&t.ca_file).map_err(pem(&t.ca_file))? {
        roots.add(cert.map_err(pem(&t.ca_file))?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    match (&t.client_cert_file, &t.client_key_file) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .map_err(pem(cert))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(pem(cert))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
            Ok(builder.with_client_auth_cert(certs, key)?)
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(TlsError::HalfClientAuth),
    }
}
