//! Local stand-ins for notification targets, started on 127.0.0.1 inside a test's tokio runtime:
//! an HTTP server recording the JSON bodies posted to it (Slack and generic webhooks) and an SMTP
//! server recording the messages relayed through it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the HTTP receiver answers.
#[derive(Clone, Copy, PartialEq)]
pub enum Answer {
    Ok,
    ServerError,
    /// Reads the request and never answers.
    Hang,
}

/// One request the HTTP receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: Value,
}

pub struct HttpReceiver {
    pub base: String,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl HttpReceiver {
    pub async fn start(answer: Answer) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let recorded = Arc::clone(&recorded);
                tokio::spawn(serve_http(stream, answer, recorded));
            }
        });
        HttpReceiver { base, requests }
    }

    pub fn received(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    pub fn bodies_at(&self, path: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|request| request.path == path)
            .map(|request| request.body)
            .collect()
    }
}

/// Serves requests on one connection (keep-alive or not) until the client closes it.
async fn serve_http(stream: TcpStream, answer: Answer, recorded: Arc<Mutex<Vec<Received>>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        recorded.lock().unwrap().push(Received { path, body });
        let response: &[u8] = match answer {
            Answer::Ok => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            Answer::ServerError => {
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nboom"
            }
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
        };
        if reader.get_mut().write_all(response).await.is_err() {
            return;
        }
    }
}

pub struct SmtpReceiver {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpReceiver {
    pub async fn start() -> SmtpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&messages);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_smtp(stream, Arc::clone(&recorded)));
            }
        });
        SmtpReceiver { port, messages }
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

async fn serve_smtp(stream: TcpStream, recorded: Arc<Mutex<Vec<String>>>) {
    let mut reader = BufReader::new(stream);
    if reader
        .get_mut()
        .write_all(b"220 localhost test SMTP\r\n")
        .await
        .is_err()
    {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 localhost\r\n",
            "DATA" => {
                reader
                    .get_mut()
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                    .await
                    .unwrap();
                let mut message = String::new();
                loop {
                    let mut data = String::new();
                    if reader.read_line(&mut data).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if data == ".\r\n" {
                        break;
                    }
                    message.push_str(&data);
                }
                recorded.lock().unwrap().push(message);
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = reader.get_mut().write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        if reader.get_mut().write_all(reply).await.is_err() {
            return;
        }
    }
}
