//! A TCP relay to the test server's Postgres that a test opens and cuts, so that a database can
//! be "down" (nothing listening), "gone" (the connections it had cut) and "back" (a new relay on
//! the same port), with no other process involved.

use std::sync::{Mutex, PoisonError};

use tokio::task::{JoinHandle, JoinSet};

use crate::harness::ReservedPort;

pub struct Relay {
    pub port: u16,
    accepting: Mutex<Option<JoinHandle<()>>>,
    connections: std::sync::Arc<Mutex<JoinSet<()>>>,
}

impl Relay {
    /// Listens on `port` (0: any free port; see [`Relay::port`]).
    pub async fn start(port: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("relay on port {port}: {e}"));
        Relay::serve(listener)
    }

    /// Listens on a port the test held (refusing connections) until now.
    pub fn start_on(reserved: ReservedPort) -> Relay {
        let listener = reserved
            .socket
            .listen(64)
            .unwrap_or_else(|e| panic!("relay on port {}: {e}", reserved.port));
        Relay::serve(listener)
    }

    fn serve(listener: tokio::net::TcpListener) -> Relay {
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("relay's address: {e}"))
            .port();
        let connections = std::sync::Arc::new(Mutex::new(JoinSet::new()));
        let accepting = {
            let connections = std::sync::Arc::clone(&connections);
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    connections
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .spawn(async move {
                            if let Ok(mut outbound) =
                                tokio::net::TcpStream::connect("127.0.0.1:5432").await
                            {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                }
            })
        };
        Relay {
            port,
            accepting: Mutex::new(Some(accepting)),
            connections,
        }
    }

    /// Stops listening and cuts every connection it relays: the database is gone.
    pub async fn cut(&self) {
        let accepting = self
            .accepting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(accepting) = accepting {
            accepting.abort();
            // Awaited, so that the port is free again for a relay that brings the database back.
            let _ = accepting.await;
        }
        let mut connections = std::mem::take(
            &mut *self
                .connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        connections.shutdown().await;
    }
}
