//! A controller started in-process on a temporary state file and unix socket.

#![allow(dead_code)]

use std::path::PathBuf;

use controller::config::ClusterOverrides;
use controller::{Controller, ControllerOptions};
use switchyard_api::Client;

pub struct TestController {
    pub dir: tempfile::TempDir,
    pub controller: Option<Controller>,
}

impl TestController {
    pub fn options(dir: &tempfile::TempDir) -> ControllerOptions {
        ControllerOptions {
            state: dir.path().join("state.json"),
            socket: dir.path().join("run/controller.sock"),
            // API tests: no switches, no OpenFlow listener.
            reconcile: false,
            ..ControllerOptions::default()
        }
    }

    /// Starts a controller with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a controller after `tweak` adjusted its options.
    pub async fn start_with(tweak: impl FnOnce(&mut ControllerOptions)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = Self::options(&dir);
        tweak(&mut options);
        let controller = controller::run(options).await.unwrap();
        TestController {
            dir,
            controller: Some(controller),
        }
    }

    /// Starts a controller that also serves TCP on a free 127.0.0.1 port with `token`;
    /// returns it and its `http://` URL.
    pub async fn start_tcp(token: &str) -> (Self, String) {
        let token = token.to_owned();
        let t = Self::start_with(|o| {
            o.listen = Some("127.0.0.1:0".parse().unwrap());
            o.token = Some(token);
        })
        .await;
        let url = format!("http://{}", t.controller().api().tcp_addr().unwrap());
        (t, url)
    }

    pub fn with_cluster(overrides: ClusterOverrides) -> impl FnOnce(&mut ControllerOptions) {
        move |o| o.cluster = overrides
    }

    pub fn controller(&self) -> &Controller {
        self.controller.as_ref().unwrap()
    }

    pub fn socket_url(&self) -> String {
        format!(
            "unix:{}",
            self.dir.path().join("run/controller.sock").display()
        )
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    pub fn client(&self) -> Client {
        Client::new(&self.socket_url()).unwrap()
    }

    /// Stops the controller and starts a new one on the same state file.
    pub async fn restart(&mut self) {
        if let Some(c) = self.controller.take() {
            c.shutdown().await;
        }
        let options = Self::options(&self.dir);
        self.controller = Some(controller::run(options).await.unwrap());
    }

    /// Everything a failed request must leave untouched: revision, API views, state file bytes.
    pub async fn fingerprint(&self) -> (u64, String, String, String, Vec<u8>) {
        let c = self.client();
        let revision = c.health().await.unwrap().revision;
        let nodes = serde_json::to_string(&c.nodes().await.unwrap()).unwrap();
        let pods = serde_json::to_string(&c.pods(None).await.unwrap()).unwrap();
        let services = serde_json::to_string(&c.services().await.unwrap()).unwrap();
        let file = std::fs::read(self.state_path()).unwrap();
        (revision, nodes, pods, services, file)
    }
}

/// Sends one raw HTTP/1.1 request over the unix socket (for bodies the typed client cannot
/// produce); returns the status and the body.
pub async fn raw_request(socket_url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = socket_url.strip_prefix("unix:").unwrap();
    let mut s = tokio::net::UnixStream::connect(socket).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
