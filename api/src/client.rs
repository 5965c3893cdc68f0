//! A small async HTTP/1.1 client for the v1 API: one connection per request, over a unix socket
//! or TCP, with an optional bearer token.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::types::{
    BackendPods, Cluster, ErrorBody, FlowEntry, FlowQuery, Health, NewNode, NewPod, NewService,
    Node, NodeName, NodeView, Pod, PodName, PodStatus, Service, ServiceName,
};

/// Largest answer body the client accepts (a full flow dump of a big node fits easily).
const MAX_BODY: usize = 64 << 20;

/// The default controller address, what `yardctl` uses without flags.
pub const DEFAULT_CONTROLLER: &str = "unix:/run/switchyard/controller.sock";

/// What went wrong talking to the controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The controller URL could not be understood.
    #[error("bad controller URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Connecting failed: the controller is not running, or the address is wrong.
    #[error("cannot reach the controller at {endpoint}; is yard-controller running?")]
    Unreachable {
        /// The controller URL.
        endpoint: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke or the answer was not HTTP/1.1.
    #[error("HTTP exchange with the controller at {endpoint} failed")]
    Http {
        /// The controller URL.
        endpoint: String,
        /// The transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The controller answered with an error status.
    #[error("{message} (HTTP {status})")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The controller's message, naming the object.
        message: String,
    },
    /// The answer was not the JSON the API promises.
    #[error("unexpected answer from the controller to {what}")]
    Decode {
        /// The request.
        what: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The HTTP status, if the controller answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the controller could not be reached at all (nothing was changed).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }
}

#[derive(Debug, Clone)]
enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

/// A handle on one controller. Cheap to clone; every call opens its own connection.
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    endpoint: Endpoint,
    token: Option<String>,
}

impl Client {
    /// `unix:/path/to.sock` (also `unix:///path` or a bare absolute path) or `http://host:port`.
    ///
    /// # Errors
    /// [`Error::BadUrl`] for any other form (`https` is not supported: use the unix socket or
    /// a TLS-terminating proxy).
    pub fn new(url: &str) -> Result<Client, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let endpoint = if let Some(rest) = url.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(bad("expected unix:/absolute/path.sock"));
            }
            Endpoint::Unix(PathBuf::from(path))
        } else if url.starts_with('/') {
            Endpoint::Unix(PathBuf::from(url))
        } else if let Some(rest) = url.strip_prefix("http://") {
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
                return Err(bad("expected http://HOST:PORT with no path"));
            }
            Endpoint::Tcp(authority.to_owned())
        } else {
            return Err(bad("expected unix:/path.sock or http://HOST:PORT"));
        };
        Ok(Client {
            url: url.to_owned(),
            endpoint,
            token: None,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request (required on TCP).
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// The URL this client talks to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<Health, Error> {
        self.get("/v1/health").await
    }

    /// `GET /v1/cluster`.
    pub async fn cluster(&self) -> Result<Cluster, Error> {
        self.get("/v1/cluster").await
    }

    /// `POST /v1/nodes`: stores the node and allocates its subnet.
    pub async fn add_node(&self, node: &NewNode) -> Result<Node, Error> {
        self.call(Method::POST, "/v1/nodes", Some(node)).await
    }

    /// `GET /v1/nodes`.
    pub async fn nodes(&self) -> Result<Vec<Node>, Error> {
        self.get("/v1/nodes").await
    }

    /// `GET /v1/nodes/{name}`.
    pub async fn node(&self, name: &NodeName) -> Result<Node, Error> {
        self.get(&format!("/v1/nodes/{name}")).await
    }

    /// `DELETE /v1/nodes/{name}`; with `force`, also removes the node's pods.
    pub async fn remove_node(&self, name: &NodeName, force: bool) -> Result<(), Error> {
        let path = if force {
            format!("/v1/nodes/{name}?force=true")
        } else {
            format!("/v1/nodes/{name}")
        };
        self.call_empty(Method::DELETE, &path, None::<&()>).await
    }

    /// `POST /v1/pods`: stores the pod and allocates its IP and MAC.
    pub async fn add_pod(&self, pod: &NewPod) -> Result<Pod, Error> {
        self.call(Method::POST, "/v1/pods", Some(pod)).await
    }

    /// `POST /v1/pods/batch`: stores many pods in one change (all or none).
    pub async fn add_pods(&self, pods: &[NewPod]) -> Result<Vec<Pod>, Error> {
        #[derive(Serialize)]
        struct Batch<'a> {
            pods: &'a [NewPod],
        }
        self.call(Method::POST, "/v1/pods/batch", Some(&Batch { pods }))
            .await
    }

    /// `GET /v1/pods`, optionally only the pods of one node.
    pub async fn pods(&self, node: Option<&NodeName>) -> Result<Vec<Pod>, Error> {
        match node {
            Some(node) => self.get(&format!("/v1/pods?node={node}")).await,
            None => self.get("/v1/pods").await,
        }
    }

    /// `GET /v1/pods/{name}`.
    pub async fn pod(&self, name: &PodName) -> Result<Pod, Error> {
        self.get(&format!("/v1/pods/{name}")).await
    }

    /// `DELETE /v1/pods/{name}`.
    pub async fn remove_pod(&self, name: &PodName) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &format!("/v1/pods/{name}"), None::<&()>)
            .await
    }

    /// `PUT /v1/pods/{name}/status` (what a node's agent reports).
    pub async fn set_pod_status(&self, name: &PodName, status: &PodStatus) -> Result<(), Error> {
        let path = format!("/v1/pods/{name}/status");
        self.call_empty(Method::PUT, &path, Some(status)).await
    }

    /// `POST /v1/services`: stores the service and allocates its id, ClusterIP and node port.
    pub async fn add_service(&self, service: &NewService) -> Result<Service, Error> {
        self.call(Method::POST, "/v1/services", Some(service)).await
    }

    /// `GET /v1/services`.
    pub async fn services(&self) -> Result<Vec<Service>, Error> {
        self.get("/v1/services").await
    }

    /// `GET /v1/services/{name}`.
    pub async fn service(&self, name: &ServiceName) -> Result<Service, Error> {
        self.get(&format!("/v1/services/{name}")).await
    }

    /// `DELETE /v1/services/{name}`.
    pub async fn remove_service(&self, name: &ServiceName) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &format!("/v1/services/{name}"), None::<&()>)
            .await
    }

    /// `POST /v1/services/{name}/backends`: adds `pods` (pods already there stay once).
    pub async fn add_backends(
        &self,
        name: &ServiceName,
        pods: &[PodName],
    ) -> Result<Service, Error> {
        self.backends(Method::POST, name, pods).await
    }

    /// `DELETE /v1/services/{name}/backends`: removes `pods` (pods that are not backends are
    /// ignored).
    pub async fn remove_backends(
        &self,
        name: &ServiceName,
        pods: &[PodName],
    ) -> Result<Service, Error> {
        self.backends(Method::DELETE, name, pods).await
    }

    async fn backends(
        &self,
        method: Method,
        name: &ServiceName,
        pods: &[PodName],
    ) -> Result<Service, Error> {
        let body = BackendPods {
            pods: pods.to_vec(),
        };
        let path = format!("/v1/services/{name}/backends");
        self.call(method, &path, Some(&body)).await
    }

    /// `GET /v1/watch/nodes/{name}?since=REV&timeout=SECS`: returns as soon as the revision is
    /// past `since`, or after `timeout` (whole seconds, at most 300) with the current view.
    pub async fn watch_node(
        &self,
        name: &NodeName,
        since: u64,
        timeout: Duration,
    ) -> Result<NodeView, Error> {
        let secs = timeout.as_secs();
        self.get(&format!(
            "/v1/watch/nodes/{name}?since={since}&timeout={secs}"
        ))
        .await
    }

    /// `GET /v1/flows/{node}`: the live flow table, read from the switch.
    pub async fn flows(&self, query: &FlowQuery) -> Result<Vec<FlowEntry>, Error> {
        let mut params = Vec::new();
        if let Some(bridge) = &query.bridge {
            params.push(format!("bridge={}", encode_query_value(bridge)));
        }
        if let Some(table) = &query.table {
            params.push(format!("table={}", encode_query_value(&table.to_string())));
        }
        if let Some(owner) = &query.owner {
            params.push(format!("owner={}", encode_query_value(owner)));
        }
        let mut path = format!("/v1/flows/{}", query.node);
        if !params.is_empty() {
            path.push('?');
            path.push_str(&params.join("&"));
        }
        self.get(&path).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(Method::GET, path, None::<&()>).await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, Error> {
        let what = format!("{method} {path}");
        let bytes = self.send(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode { what, source })
    }

    async fn call_empty<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), Error> {
        self.send(method, path, body).await.map(drop)
    }

    /// Sends one request; returns the body of a 2xx answer, or the error the server named.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Bytes, Error> {
        let payload = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b).map_err(|source| Error::Decode {
                what: format!("{method} {path} (request body)"),
                source,
            })?),
            None => Bytes::new(),
        };
        let host = match &self.endpoint {
            Endpoint::Unix(_) => "localhost",
            Endpoint::Tcp(authority) => authority.as_str(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, host);
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(payload))
            .map_err(|e| self.http_error(e))?;
        let (status, bytes) = match &self.endpoint {
            Endpoint::Unix(p) => {
                let stream = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|e| self.unreachable(e))?;
                self.exchange(stream, req).await?
            }
            Endpoint::Tcp(authority) => {
                let stream = tokio::net::TcpStream::connect(authority.as_str())
                    .await
                    .map_err(|e| self.unreachable(e))?;
                self.exchange(stream, req).await?
            }
        };
        if status.is_success() {
            return Ok(bytes);
        }
        let message = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => body.error,
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes);
                let text = text.trim();
                if text.is_empty() {
                    status.canonical_reason().unwrap_or("error").to_owned()
                } else {
                    text.chars().take(500).collect()
                }
            }
        };
        Err(Error::Api {
            status: status.as_u16(),
            message,
        })
    }

    async fn exchange<S>(
        &self,
        stream: S,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.http_error(e))?;
        // The connection future drives the socket; it ends when the response is read.
        let driver = tokio::spawn(conn);
        let answer = async {
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| self.http_error(e))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| self.http_error(e))?
                .to_bytes();
            Ok((status, body))
        }
        .await;
        driver.abort();
        answer
    }

    fn unreachable(&self, source: std::io::Error) -> Error {
        Error::Unreachable {
            endpoint: self.url.clone(),
            source,
        }
    }

    fn http_error(&self, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Http {
            endpoint: self.url.clone(),
            source: e.into(),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unix_and_http_urls() {
        for ok in [
            "unix:/run/switchyard/controller.sock",
            "unix:///run/x.sock",
            "/run/x.sock",
            "http://127.0.0.1:8080",
            "http://ctl.example:8080/",
        ] {
            assert!(Client::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_other_urls_naming_them() {
        for bad in [
            "https://x:1",
            "unix:relative.sock",
            "http://host",
            "http://h:1/v1",
            "x",
        ] {
            let e = Client::new(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("l3-forward"), "l3-forward");
        assert_eq!(encode_query_value("a b&c"), "a%20b%26c");
    }

    #[tokio::test]
    async fn connecting_to_a_missing_socket_is_unreachable() {
        let c = Client::new("unix:/nonexistent/switchyard.sock").unwrap();
        let e = c.health().await.unwrap_err();
        assert!(e.is_unreachable(), "{e:?}");
    }
}
