//! The built-in scenario's client against an in-process hyper server: statuses, keep-alive,
//! headers and bodies, error classes (connection refused, timeout, reset, TLS), TLS with a
//! self-signed certificate, HTTP/2.

mod http_support;

use std::time::{Duration, Instant};

use http_support::{Proto, TestServer, closed_port, reset_server};
use rookery::http::{Connector, ErrorClass, HttpSpec, UserClient};

fn connector(url: String, tweak: impl FnOnce(&mut HttpSpec)) -> Connector {
    let mut spec = HttpSpec {
        url: Some(url),
        ..HttpSpec::default()
    };
    tweak(&mut spec);
    Connector::new(spec.resolve().expect("a good spec")).expect("a connector")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_arrive_as_sent_and_redirects_are_not_followed() {
    let server = TestServer::start(Proto::default()).await;
    for code in [200u16, 204, 301, 302, 404, 500, 503] {
        let c = connector(server.url(&format!("/status/{code}")), |_| {});
        let r = UserClient::new().send(&c, 0).await.expect("an answer");
        assert_eq!(r.status, code);
    }
    assert_eq!(server.received(), 7, "a redirect is not followed");
}

/// One user sends `n` requests to `path` of a fresh server, each answered 200 with a body of
/// `body_len` bytes; returns the server, which counted requests and connections.
async fn one_user_sends(path: &str, n: u64, body_len: u64) -> TestServer {
    let server = TestServer::start(Proto::default()).await;
    let c = connector(server.url(path), |_| {});
    let mut client = UserClient::new();
    for _ in 0..n {
        let r = client.send(&c, 0).await.expect("an answer");
        assert_eq!((r.status, r.bytes_in), (200, body_len));
    }
    assert_eq!(server.received(), n);
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_keeps_one_connection_alive() {
    let server = one_user_sends("/", 25, 6).await;
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closes_is_replaced_not_an_error() {
    let server = one_user_sends("/close", 5, 4).await;
    assert_eq!(server.connections(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_headers_and_body_arrive() {
    let server = TestServer::start(Proto::default()).await;
    let c = connector(server.url("/echo"), |s| {
        s.method = "PUT".into();
        s.headers = vec!["X-One: 1".into(), "X-Two:  two words ".into()];
        s.body = Some("the body".into());
    });
    let r = UserClient::new().send(&c, 0).await.expect("an answer");
    let seen = server.last_request();
    assert!(seen.contains("method PUT"), "{seen}");
    assert!(seen.contains("header x-one: 1"), "{seen}");
    assert!(seen.contains("header x-two: two words"), "{seen}");
    assert!(seen.contains("header content-length: 8"), "{seen}");
    assert!(
        seen.contains(&format!("header host: {}", server.addr())),
        "{seen}"
    );
    assert!(seen.contains("body the body"), "{seen}");
    assert_eq!(r.bytes_in, seen.len() as u64);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, b"{\"from\":\"file\"}").unwrap();
    let c = connector(server.url("/echo"), |s| {
        s.method = "POST".into();
        s.body_file = Some(file.clone());
    });
    UserClient::new().send(&c, 0).await.expect("an answer");
    assert!(server.last_request().contains("body {\"from\":\"file\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_a_connect_error() {
    let c = connector(format!("http://127.0.0.1:{}/", closed_port()), |_| {});
    let e = UserClient::new().send(&c, 0).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Connect, "{e}");
    assert!(e.reason.contains("127.0.0.1"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_a_timeout_and_the_next_request_reconnects() {
    let server = TestServer::start(Proto::default()).await;
    let c = connector(server.url("/sleep/3000"), |s| {
        s.timeout = Duration::from_millis(200);
    });
    let mut client = UserClient::new();
    let begin = Instant::now();
    let e = client.send(&c, 0).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Timeout, "{e}");
    assert!(
        begin.elapsed() < Duration::from_secs(2),
        "{:?}",
        begin.elapsed()
    );
    // The abandoned connection is closed; the next request opens another.
    let c2 = connector(server.url("/"), |_| {});
    assert_eq!(client.send(&c2, 0).await.expect("an answer").status, 200);
    assert_eq!(server.connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_connection_is_another_error() {
    let (addr, task) = reset_server().await;
    let c = connector(format!("http://{addr}/"), |_| {});
    let e = UserClient::new().send(&c, 0).await.unwrap_err();
    task.abort();
    assert_eq!(e.class, ErrorClass::Other, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_self_signed_certificate_needs_insecure() {
    let server = TestServer::start(Proto {
        tls: true,
        http2: false,
    })
    .await;
    let url = server.url("/echo");
    assert!(url.starts_with("https://"));
    let e = UserClient::new()
        .send(&connector(url.clone(), |_| {}), 0)
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Tls, "{e}");
    let c = connector(url, |s| s.insecure = true);
    let r = UserClient::new().send(&c, 0).await.expect("an answer");
    assert_eq!(r.status, 200);
    assert!(server.last_request().contains("version HTTP/1.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_plain_tcp_and_over_tls() {
    for tls in [false, true] {
        let server = TestServer::start(Proto { tls, http2: true }).await;
        let c = connector(server.url("/echo"), |s| {
            s.http2 = true;
            s.insecure = true;
            s.headers = vec!["X-H2: yes".into()];
        });
        let mut client = UserClient::new();
        for _ in 0..5 {
            assert_eq!(client.send(&c, 0).await.expect("an answer").status, 200);
        }
        let seen = server.last_request();
        assert!(seen.contains("version HTTP/2.0"), "tls {tls}: {seen}");
        assert!(seen.contains("header x-h2: yes"), "{seen}");
        assert_eq!(server.connections(), 1, "tls {tls}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_urls_share_a_connection_per_origin() {
    let a = TestServer::start(Proto::default()).await;
    let b = TestServer::start(Proto::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("urls.txt");
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n{}\n",
            a.url("/status/200"),
            a.url("/status/404"),
            b.url("/")
        ),
    )
    .unwrap();
    let spec = HttpSpec {
        urls_file: Some(file),
        ..HttpSpec::default()
    };
    let c = Connector::new(spec.resolve().unwrap()).unwrap();
    let mut client = UserClient::new();
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(client.send(&c, i % 3).await.expect("an answer").status);
    }
    assert_eq!(statuses, [200, 404, 200, 200, 404, 200]);
    assert_eq!((a.received(), b.received()), (4, 2));
    assert_eq!((a.connections(), b.connections()), (1, 1));
}
