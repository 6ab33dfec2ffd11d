//! Credentials and TLS against a real `nats-server`: a token or a user and password in the URL,
//! a token from `ROOKERY_CLUSTER_TOKEN`, `--cluster-creds` with a user NKey seed
//! (`authorization { users = [{nkey: …}] }`) or a `.creds` file (a user JWT and seed, the
//! server in operator mode with the JWTs made here), and `tls://` with a certificate authority
//! made here and trusted with `--cluster-ca`. Each time a `rookery node` worker process joins a
//! master (the library's `Master`, in this process, with the same credentials); and each wrong
//! credential makes the worker exit at once with status 1 and one line that names the problem
//! and never shows the secret.

mod nats_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nats_support::*;
use rookery::cluster_nats::{ClusterAddr, Master, MasterOptions};
use rookery::telemetry::Telemetry;

/// A master of run `run` on `addr` (demo scenario).
async fn master(addr: ClusterAddr, run: &str) -> Master {
    Master::start(
        MasterOptions::new(addr, run, "demo"),
        Telemetry::new(),
        Instant::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("the master could not start: {e}"))
}

/// `rookery node --cluster URL --run RUN --name NAME` plus `extra` and environment `env`.
fn node(
    dir: &Path,
    name: &str,
    url: &str,
    run: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Proc {
    let mut cmd = rookery();
    cmd.args(["node", "--cluster", url, "--name", name, "--run", run])
        .args(extra)
        .env_remove("ROOKERY_CLUSTER_TOKEN")
        .env_remove("ROOKERY_CLUSTER_CREDS")
        .env_remove("ROOKERY_CLUSTER_CA");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::spawn(name, cmd, dir)
}

/// The worker joins the master, then both end cleanly.
async fn joins(master: Master, mut worker: Proc) {
    if let Err(e) = master.wait_nodes(1, Duration::from_secs(30)).await {
        panic!(
            "{} did not join: {e}\n{}",
            worker.name,
            worker.stderr_text()
        );
    }
    assert_eq!(master.nodes_up(), vec![worker.name.clone()]);
    master.stop(Duration::from_secs(10)).await.unwrap();
    master.end().await;
    assert!(
        worker.ends_ok(Duration::from_secs(10)),
        "{}: {}",
        worker.name,
        worker.stderr_text()
    );
}

/// The worker exits with status 1 within 10 s, its stderr one line holding `says` and not
/// `secret`.
fn refused(mut worker: Proc, says: &str, secret: &str) {
    let started = Instant::now();
    let status = worker
        .wait_timeout(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{} still runs after 10 s", worker.name));
    let err = worker.stderr_text();
    eprintln!("{} after {:?}: {err}", worker.name, started.elapsed());
    assert_eq!(status.code(), Some(1), "{}: {err}", worker.name);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(says), "{err:?} should say {says:?}");
    assert!(!err.contains(secret), "{err:?} shows the secret");
}

fn url_with(userinfo: &str, port: u16) -> String {
    format!("nats://{userinfo}@127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_url_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start_with(dir.path(), &["--auth", "t0ken-s3cret"]);
    let with_token = url_with("t0ken-s3cret", server.port);
    let m = master(
        ClusterAddr {
            url: with_token.clone(),
            ..ClusterAddr::default()
        },
        "tok",
    )
    .await;
    joins(m, node(dir.path(), "w1", &with_token, "tok", &[], &[])).await;

    // The token from the environment, the URL without one.
    let m = master(
        ClusterAddr {
            url: server.url(),
            token: Some("t0ken-s3cret".into()),
            ..ClusterAddr::default()
        },
        "env",
    )
    .await;
    let w = node(
        dir.path(),
        "w2",
        &server.url(),
        "env",
        &[],
        &[("ROOKERY_CLUSTER_TOKEN", "t0ken-s3cret")],
    );
    joins(m, w).await;

    let bad = url_with("not-the-t0ken", server.port);
    refused(
        node(dir.path(), "w3", &bad, "tok", &[], &[]),
        "refused the credentials",
        "not-the-t0ken",
    );
    refused(
        node(dir.path(), "w4", &server.url(), "tok", &[], &[]),
        "refused the credentials",
        "t0ken-s3cret",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_and_password_in_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start_with(dir.path(), &["--user", "loader", "--pass", "pa55word"]);
    let good = url_with("loader:pa55word", server.port);
    let m = master(
        ClusterAddr {
            url: good.clone(),
            ..ClusterAddr::default()
        },
        "up",
    )
    .await;
    joins(m, node(dir.path(), "w1", &good, "up", &[], &[])).await;
    refused(
        node(
            dir.path(),
            "w2",
            &url_with("loader:wr0ng", server.port),
            "up",
            &[],
            &[],
        ),
        "refused the credentials",
        "wr0ng",
    );
}

/// Writes `text` to `dir/name`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A nats-server configuration file with `body`, listening where [`NatsServer`] says.
fn config(dir: &Path, body: &str) -> PathBuf {
    write(dir, "server.conf", body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nkey_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let user = nkeys::KeyPair::new_user();
    let conf = config(
        dir.path(),
        &format!(
            "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
            user.public_key()
        ),
    );
    let server = NatsServer::start_with(dir.path(), &["-c", conf.to_str().unwrap()]);
    let seed = user.seed().unwrap();
    let seed_file = write(dir.path(), "user.nk", &format!("{seed}\n"));
    let m = master(
        ClusterAddr {
            url: server.url(),
            creds: Some(seed_file.clone()),
            ..ClusterAddr::default()
        },
        "nk",
    )
    .await;
    let w = node(
        dir.path(),
        "w1",
        &server.url(),
        "nk",
        &["--cluster-creds", seed_file.to_str().unwrap()],
        &[],
    );
    joins(m, w).await;

    // Another user's seed is refused; so is a file that holds no credentials.
    let stranger = nkeys::KeyPair::new_user().seed().unwrap();
    let other = write(dir.path(), "other.nk", &stranger);
    refused(
        node(
            dir.path(),
            "w2",
            &server.url(),
            "nk",
            &["--cluster-creds", other.to_str().unwrap()],
            &[],
        ),
        "refused the credentials",
        &stranger,
    );
    let junk = write(dir.path(), "junk.txt", "hello\n");
    refused(
        node(
            dir.path(),
            "w3",
            &server.url(),
            "nk",
            &["--cluster-creds", junk.to_str().unwrap()],
            &[],
        ),
        "neither a NATS .creds file",
        "hello",
    );
    refused(
        node(
            dir.path(),
            "w4",
            &server.url(),
            "nk",
            &["--cluster-creds", "/nonexistent/x.creds"],
            &[],
        ),
        "--cluster-creds /nonexistent/x.creds",
        &seed,
    );
}

/// A JWT of NATS' decentralised auth: `claims` (without `iss`, `iat`, `jti`) signed by
/// `issuer`.
fn jwt(issuer: &nkeys::KeyPair, mut claims: serde_json::Value) -> String {
    let b64 = |b: &[u8]| data_encoding::BASE64URL_NOPAD.encode(b);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    claims["iss"] = issuer.public_key().into();
    claims["iat"] = now.into();
    claims["jti"] = data_encoding::BASE32_NOPAD
        .encode(format!("{}{now}", claims["sub"]).as_bytes())
        .into();
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(claims.to_string().as_bytes());
    let signed = format!("{header}.{body}");
    let sig = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64(&sig))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creds_file_with_decentralised_auth() {
    let dir = tempfile::tempdir().unwrap();
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let op_jwt = jwt(
        &operator,
        serde_json::json!({"sub": operator.public_key(), "name": "op",
            "nats": {"type": "operator", "version": 2}}),
    );
    let unlimited = serde_json::json!({"subs": -1, "data": -1, "payload": -1, "imports": -1,
        "exports": -1, "wildcards": true, "conn": -1, "leaf": -1});
    let acc_jwt = jwt(
        &operator,
        serde_json::json!({"sub": account.public_key(), "name": "load",
            "nats": {"limits": unlimited, "type": "account", "version": 2}}),
    );
    let user_jwt = jwt(
        &account,
        serde_json::json!({"sub": user.public_key(), "name": "worker",
            "nats": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                     "type": "user", "version": 2}}),
    );
    let conf = config(
        dir.path(),
        &format!(
            "operator: {op_jwt}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {acc_jwt}\n}}\n",
            account.public_key()
        ),
    );
    let server = NatsServer::start_with(dir.path(), &["-c", conf.to_str().unwrap()]);
    let seed = user.seed().unwrap();
    let creds = write(
        dir.path(),
        "worker.creds",
        &format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        ),
    );
    let m = master(
        ClusterAddr {
            url: server.url(),
            creds: Some(creds.clone()),
            ..ClusterAddr::default()
        },
        "jwt",
    )
    .await;
    let w = node(
        dir.path(),
        "w1",
        &server.url(),
        "jwt",
        &[],
        &[("ROOKERY_CLUSTER_CREDS", creds.to_str().unwrap())],
    );
    joins(m, w).await;

    // A user of an account the server does not know is refused.
    let stranger_account = nkeys::KeyPair::new_account();
    let stranger = nkeys::KeyPair::new_user();
    let stranger_jwt = jwt(
        &stranger_account,
        serde_json::json!({"sub": stranger.public_key(), "name": "stranger",
            "nats": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                     "type": "user", "version": 2}}),
    );
    let stranger_seed = stranger.seed().unwrap();
    let bad = write(
        dir.path(),
        "stranger.creds",
        &format!(
            "-----BEGIN NATS USER JWT-----\n{stranger_jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{stranger_seed}\n------END USER NKEY SEED------\n"
        ),
    );
    refused(
        node(
            dir.path(),
            "w2",
            &server.url(),
            "jwt",
            &["--cluster-creds", bad.to_str().unwrap()],
            &[],
        ),
        "refused the credentials",
        &stranger_seed,
    );
}

/// A certificate authority and a server certificate it signed for `localhost` and
/// `127.0.0.1`: (ca.pem, server.pem, server.key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rookery test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    (
        write(dir, "ca.pem", &ca_cert.pem()),
        write(dir, "server.pem", &server_cert.pem()),
        write(dir, "server.key", &server_key.serialize_pem()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_certificate_authority_made_here() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let server = NatsServer::start_with(
        dir.path(),
        &[
            "--tls",
            "--tlscert",
            cert.to_str().unwrap(),
            "--tlskey",
            key.to_str().unwrap(),
        ],
    );
    let url = format!("tls://127.0.0.1:{}", server.port);
    let m = master(
        ClusterAddr {
            url: url.clone(),
            ca: Some(ca.clone()),
            ..ClusterAddr::default()
        },
        "tls",
    )
    .await;
    let w = node(
        dir.path(),
        "w1",
        &url,
        "tls",
        &["--cluster-ca", ca.to_str().unwrap()],
        &[],
    );
    joins(m, w).await;

    // Without the CA the server's certificate is not trusted; a CA file that is not there is
    // named.
    refused(
        node(dir.path(), "w2", &url, "tls", &[], &[]),
        "TLS failed",
        "-----",
    );
    refused(
        node(
            dir.path(),
            "w3",
            &url,
            "tls",
            &["--cluster-ca", "/nonexistent/ca.pem"],
            &[],
        ),
        "--cluster-ca /nonexistent/ca.pem",
        "-----",
    );
}
