//! The server's TLS configuration from PEM files (rustls, ring provider: the one the
//! workspace already builds for ureq).

use crate::config::TlsFiles;
use crate::error::CollectorError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::rustls::{self, ServerConfig};

pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, CollectorError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|error| CollectorError::TlsFile {
            path: path.to_owned(),
            error,
        })
    };
    let bad = |path: &std::path::Path, what: String| CollectorError::Tls {
        path: path.to_owned(),
        what,
    };
    let cert_pem = read(&files.cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&files.cert, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad(&files.cert, "holds no certificate".into()));
    }
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(&files.key, format!("holds no usable private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&files.key, format!("does not go with the certificate: {e}")))?;
    Ok(Arc::new(config))
}
