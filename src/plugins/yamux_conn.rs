//! One yamux session over a plugin connection, with the engine as the yamux server
//! (Docker's engine is the server on both the socketpair and a hijacked connection).
//!
//! The `yamux` crate's `Connection` must be polled by one owner, and only polling
//! `poll_next_inbound` moves bytes (frames, window updates, answers to the peer's
//! keepalive pings); a driver task owns it, hands accepted streams out and opens
//! streams on request.

use std::collections::VecDeque;
use std::task::Poll;

use futures_util::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};

type Opened = oneshot::Sender<Result<yamux::Stream, String>>;

/// A handle on a running yamux session; dropping every handle closes it.
#[derive(Clone)]
pub(crate) struct YamuxHandle {
    open: mpsc::Sender<Opened>,
    close: mpsc::UnboundedSender<()>,
    ended: watch::Receiver<Option<String>>,
}

impl YamuxHandle {
    /// Starts the session on `io` (the engine's side, yamux server mode); streams the
    /// plugin opens come out of the returned receiver.
    pub(crate) fn start<T>(io: T) -> (YamuxHandle, mpsc::UnboundedReceiver<yamux::Stream>)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let conn = yamux::Connection::new(io, yamux::Config::default(), yamux::Mode::Server);
        let (open, open_rx) = mpsc::channel(16);
        let (accepted_tx, accepted) = mpsc::unbounded_channel();
        let (close, close_rx) = mpsc::unbounded_channel();
        let (ended_tx, ended) = watch::channel(None);
        tokio::spawn(async move {
            let outcome = drive(conn, open_rx, accepted_tx, close_rx).await;
            let reason = match outcome {
                Ok(()) => "the plugin closed its connection".to_owned(),
                Err(e) => format!("the plugin connection failed: {e}"),
            };
            let _ = ended_tx.send(Some(reason));
        });
        (YamuxHandle { open, close, ended }, accepted)
    }

    /// Opens a stream to the plugin.
    pub(crate) async fn open(&self) -> Result<yamux::Stream, String> {
        let (tx, rx) = oneshot::channel();
        if self.open.send(tx).await.is_err() {
            return Err(self.reason());
        }
        rx.await.unwrap_or_else(|_| Err(self.reason()))
    }

    /// Why the session ended, or that it is still up.
    pub(crate) fn ended(&self) -> Option<String> {
        self.ended.borrow().clone()
    }

    fn reason(&self) -> String {
        self.ended()
            .unwrap_or_else(|| "the plugin connection is closing".into())
    }

    /// Waits until the session has ended; the reason.
    pub(crate) async fn closed(&self) -> String {
        let mut ended = self.ended.clone();
        match ended.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or_default(),
            Err(_) => "the plugin connection ended".into(),
        }
    }

    /// Sends go-away and closes the session.
    pub(crate) fn close(&self) {
        let _ = self.close.send(());
    }
}

async fn drive<T>(
    mut conn: yamux::Connection<T>,
    mut open_rx: mpsc::Receiver<Opened>,
    accepted: mpsc::UnboundedSender<yamux::Stream>,
    mut close: mpsc::UnboundedReceiver<()>,
) -> Result<(), yamux::ConnectionError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut waiting: VecDeque<Opened> = VecDeque::new();
    let mut closing = false;
    std::future::poll_fn(|cx| {
        // Asked to close, or every handle is gone (nobody can use the session).
        if !closing && close.poll_recv(cx).is_ready() {
            closing = true;
        }
        if closing {
            for w in waiting.drain(..) {
                let _ = w.send(Err("the plugin connection is closing".into()));
            }
            return conn.poll_close(cx);
        }
        loop {
            match open_rx.poll_recv(cx) {
                Poll::Ready(Some(w)) => waiting.push_back(w),
                Poll::Ready(None) => break,
                Poll::Pending => break,
            }
        }
        while !waiting.is_empty() {
            match conn.poll_new_outbound(cx) {
                Poll::Ready(Ok(s)) => {
                    if let Some(w) = waiting.pop_front() {
                        let _ = w.send(Ok(s));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        loop {
            match conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(s))) => {
                    let _ = accepted.send(s);
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}
