//! The accept loop: bounds, TLS, HTTP/1.1, the caller's handler, and a graceful stop.

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Bounds on what one client may cost, and how long a stop waits.
#[derive(Clone, Debug)]
pub struct Options {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time for a TLS handshake, and for each request's headers (also how long an idle
    /// keep-alive connection stays open).
    pub header_timeout: Duration,
    /// Largest buffer of request headers per connection.
    pub max_header_buf: usize,
    /// After the shutdown future completes: how long connections may take to finish the
    /// request they are answering before they are cut off.
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            max_header_buf: 64 * 1024,
            grace: Duration::from_secs(2),
        }
    }
}

/// Binds `addr` for [`serve`] (non-blocking, as tokio wants it). Port 0 picks a free port:
/// ask the listener's `local_addr`.
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `listener` until `shutdown` completes: each connection (TLS first when `tls` is
/// given) is served HTTP/1.1 by hyper, every request answered by `handler(peer, request)`.
/// Then it stops accepting, lets each connection finish its request in flight (and close),
/// and returns once all are closed or [`Options::grace`] has passed. Must run inside a tokio
/// runtime with I/O and time enabled. Accept errors (out of file descriptors) are logged and
/// waited out; the only error is a listener tokio cannot take.
pub async fn serve<H, F, B, S>(
    listener: std::net::TcpListener,
    tls: Option<Arc<ServerConfig>>,
    options: Options,
    handler: H,
    shutdown: S,
) -> std::io::Result<()>
where
    H: Fn(SocketAddr, Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S: Future<Output = ()>,
{
    let listener = TcpListener::from_std(listener)?;
    let tls = tls.map(TlsAcceptor::from);
    let handler = Arc::new(handler);
    let options = Arc::new(options);
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut last_full_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if last_full_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_full_warning = Some(Instant::now());
                tracing::warn!(%peer, "closing new connections: {} are open already", options.max_connections);
            }
            drop(stream);
            continue;
        };
        connections.spawn(connection(
            stream,
            peer,
            tls.clone(),
            options.clone(),
            handler.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    stop_tx.send_replace(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(options.grace, drained).await.is_err() {
        tracing::info!(
            "cutting off {} connections still open {:?} after the stop",
            connections.len(),
            options.grace
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// One connection's life; the permit is held until it closes.
async fn connection<H, F, B>(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    options: Arc<Options>,
    handler: Arc<H>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) where
    H: Fn(SocketAddr, Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let _ = stream.set_nodelay(true);
    let served = match tls {
        Some(acceptor) => {
            match tokio::time::timeout(options.header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => http(stream, peer, &options, handler, &mut stop).await,
                Ok(Err(error)) => {
                    tracing::info!(%peer, "TLS handshake failed: {error}");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake not done within {:?}", options.header_timeout);
                    return;
                }
            }
        }
        None => http(stream, peer, &options, handler, &mut stop).await,
    };
    if let Err(error) = served {
        tracing::info!(%peer, "connection closed: {error}");
    }
}

/// HTTP/1.1 on `io` until the client closes, or a stop lets the request in flight finish.
async fn http<I, H, F, B>(
    io: I,
    peer: SocketAddr,
    options: &Options,
    handler: Arc<H>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(SocketAddr, Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .max_buf_size(options.max_header_buf);
    let service = service_fn(move |req| {
        let answer = handler(peer, req);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => return served,
        Ok(_) = stop.wait_for(|stopped| *stopped) => {}
    }
    conn.as_mut().graceful_shutdown();
    conn.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_with_the_peer_and_stops_on_the_shutdown_future() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = bind(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handler = |peer: SocketAddr, req: Request<Incoming>| async move {
            let text = format!("{} from {}", req.uri().path(), peer.ip());
            Response::new(Full::new(Bytes::from(text)))
        };
        let server = runtime.spawn(serve(listener, None, Options::default(), handler, async {
            let _ = rx.await;
        }));
        let answer = get(addr);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("/x from 127.0.0.1"), "{answer}");
        // An idle keep-alive connection does not hold the stop up.
        let idle = std::net::TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        tx.send(()).unwrap();
        runtime.block_on(server).unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "still accepting"
        );
        drop(idle);
    }
}
