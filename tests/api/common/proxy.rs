//! A TCP proxy between an app and its PostgreSQL server that a test can cut
//! and restore: while stopped, the port refuses connections and every open
//! one is closed, as when the database restarts or the network drops.

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream, UnixStream},
    task::{JoinHandle, JoinSet},
};

#[derive(Clone, Debug)]
enum Upstream {
    Tcp(String),
    Unix(String),
}

pub struct TcpProxy {
    pub port: u16,
    upstream: Upstream,
    server: Option<JoinHandle<()>>,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

impl TcpProxy {
    /// A proxy to the server `GATEHOUSE_TEST_POSTGRES` names (TCP or a Unix
    /// socket directory in `?host=`).
    pub async fn to_postgres(admin_url: &str) -> TcpProxy {
        let url = reqwest::Url::parse(admin_url).expect("GATEHOUSE_TEST_POSTGRES: a URL");
        let port = url.port().unwrap_or(5432);
        let socket_dir = url
            .query_pairs()
            .find(|(k, _)| k == "host")
            .map(|(_, v)| v.into_owned())
            .filter(|h| h.starts_with('/'));
        let upstream = match socket_dir {
            Some(dir) => Upstream::Unix(format!("{dir}/.s.PGSQL.{port}")),
            None => Upstream::Tcp(format!("{}:{port}", url.host_str().unwrap_or("127.0.0.1"))),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let mut proxy = TcpProxy {
            port: listener.local_addr().unwrap().port(),
            upstream,
            server: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        self.server = Some(tokio::spawn(async move {
            let mut links = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                links.spawn(async move {
                    match upstream {
                        Upstream::Tcp(addr) => {
                            if let Ok(mut server) = TcpStream::connect(addr).await {
                                let _ = copy_bidirectional(&mut client, &mut server).await;
                            }
                        }
                        Upstream::Unix(path) => {
                            if let Ok(mut server) = UnixStream::connect(path).await {
                                let _ = copy_bidirectional(&mut client, &mut server).await;
                            }
                        }
                    }
                });
            }
        }));
    }

    /// Cuts every connection and refuses new ones.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Listens again, on the same port.
    pub async fn start(&mut self) {
        self.stop();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebind the proxy: {e}"),
            }
        };
        self.serve(listener);
    }
}
