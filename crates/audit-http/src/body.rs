//! Reading a request body within the size limit and the body timeout: the limit is enforced
//! frame by frame while reading, so nothing past it is ever buffered.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::time::Duration;

/// Why a body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// More than the limit.
    TooLarge,
    /// Not complete within the timeout.
    TooSlow,
    /// The connection failed or the framing was broken.
    Broken(String),
}

/// Reads the whole body: at most `limit` bytes, within `timeout`.
pub async fn read(
    mut body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, BodyError> {
    let reading = async {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                add(&mut out, &data, limit)?;
            }
        }
        Ok(out)
    };
    tokio::time::timeout(timeout, reading)
        .await
        .unwrap_or(Err(BodyError::TooSlow))
}

fn add(out: &mut Vec<u8>, data: &Bytes, limit: usize) -> Result<(), BodyError> {
    if out.len() + data.len() > limit {
        return Err(BodyError::TooLarge);
    }
    out.extend_from_slice(data);
    Ok(())
}
