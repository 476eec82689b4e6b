//! Webhook notifications: signed, retried with backoff, in order; failures shown to admins
//! and never in the workflow's way.

use berth_tests::{api_request, free_port, Berth};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
struct Received {
    signature: String,
    body: String,
}

/// A loopback HTTP receiver that fails the first `failures` requests with a 500.
async fn receiver(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let request = loop {
                let n = socket.read(&mut chunk).await.unwrap();
                buffer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buffer).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
                        .unwrap_or(0);
                    if buffer.len() >= end + 4 + length || n == 0 {
                        break text;
                    }
                }
            };
            let (head, body) = request.split_once("\r\n\r\n").unwrap();
            let signature = head
                .lines()
                .find_map(|l| l.to_lowercase().starts_with("x-berth-signature:").then(|| l.split_once(':').unwrap().1.trim().to_string()))
                .unwrap_or_default();
            let count = {
                let mut seen = log.lock().unwrap();
                seen.push(Received { signature, body: body.to_string() });
                seen.len()
            };
            let status = if count <= failures { "500 Internal Server Error" } else { "200 OK" };
            let _ = socket.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await;
        }
    });
    (url, seen)
}

fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn status_changes_reach_webhooks_signed_and_retried_and_failures_show_to_admins() {
    let (url, seen) = receiver(2).await;
    let dead = format!("http://127.0.0.1:{}/nobody-listens", free_port());
    let config = std::env::temp_dir().join(format!("berth-webhooks-{}.toml", free_port()));
    std::fs::write(
        &config,
        format!(
            "webhook_max_attempts = 3\nwebhook_backoff_ms = 50\n\n[[webhooks]]\nurl = \"{url}\"\nsecret = \"s3cret\"\n\n[[webhooks]]\nurl = \"{dead}\"\nsecret = \"other\"\n"
        ),
    )
    .unwrap();
    let berth = Berth::start_with(&[("BERTH_CONFIG", config.to_str().unwrap())]).await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();

    let started = Instant::now();
    let created = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap();
    assert_eq!(created.status, 201);
    assert!(started.elapsed() < Duration::from_secs(2), "the workflow does not wait for webhooks");

    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "the webhook was not retried: {:?}\n{}", seen.lock().unwrap(), berth.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = seen.lock().unwrap().clone();
    assert!(received.iter().all(|r| r.body == received[0].body), "the same event, retried");
    let delivered = &received[2];
    assert_eq!(delivered.signature, sign("s3cret", &delivered.body), "signed with the webhook's secret");
    let event: serde_json::Value = serde_json::from_str(&delivered.body).unwrap();
    assert_eq!(event["event"], "request.status_changed");
    assert_eq!(event["status"], "pending_review");
    assert_eq!(event["service_name"], "orders");
    assert_eq!(event["request_id"], created.body["id"]);

    let admin = berth.admin().await.unwrap();
    assert_eq!(rita.get("/api/v1/webhooks").await.unwrap().status, 403);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let status = admin.get("/api/v1/webhooks").await.unwrap().body;
        if !status["failures"].as_array().unwrap().is_empty() {
            break status;
        }
        assert!(Instant::now() < deadline, "the dead webhook's failure was never recorded: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failure = &status["failures"][0];
    assert_eq!(failure["url"], dead.as_str());
    assert_eq!(failure["attempts"], 3);
    let hooks: Vec<_> = status["hooks"].as_array().unwrap().iter().map(|h| h["url"].as_str().unwrap().to_string()).collect();
    assert_eq!(hooks, [url.clone(), dead.clone()]);

    // Later changes keep flowing, in order.
    let id = created.body["id"].as_str().unwrap();
    let mut changed = api_request("orders", "/orders/v2*");
    changed["desired_count"] = serde_json::json!(3);
    rita.put(&format!("/api/v1/requests/{id}"), changed).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 4 {
        assert!(Instant::now() < deadline, "the second change never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[3].body).unwrap();
    assert_eq!(last["revision"], 2);
}
