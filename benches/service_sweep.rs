//! How long one sweep of 500 HTTP services on loopback takes through the real service
//! collectors (bounded concurrency), against a small HTTP server started here. Target: within
//! 1 s.
//!
//!   cargo bench --bench service_sweep

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use opsdeck::core::collectors;
use opsdeck::core::services::http::HttpCheck;
use opsdeck::core::services::scheduler::{self, Passes};
use opsdeck::core::services::{ServiceCheck, ServiceSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVICES: usize = 500;
const SWEEPS: usize = 5;

async fn serve(listener: tokio::net::TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buffer = [0u8; 2048];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}";
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(serve(listener));
        let mut sweeps = Vec::new();
        for sweep in 0..SWEEPS {
            let specs: Vec<ServiceSpec> = (0..SERVICES)
                .map(|index| ServiceSpec {
                    name: format!("svc-{sweep}-{index}"),
                    interval: Duration::from_secs(3600),
                    timeout: Duration::from_secs(5),
                    down_after: 3,
                    up_after: 2,
                    check: ServiceCheck::Http(HttpCheck {
                        url: format!("http://{address}/health/{index}"),
                        method: "GET".into(),
                        expect_status: vec![200],
                        body_contains: Some("ok".into()),
                        json_equals: None,
                        max_latency: None,
                        headers: BTreeMap::new(),
                        verify_tls: true,
                    }),
                })
                .collect();
            opsdeck::core::services::prepare(&specs).await;
            let started = Instant::now();
            let results =
                collectors::once_each(scheduler::collectors(specs, Passes::Running)).await;
            let ok = results.iter().filter(|result| result.outcome.ok).count();
            let elapsed = started.elapsed();
            println!(
                "{{\"sweep\": {sweep}, \"services\": {SERVICES}, \"ok\": {ok}, \"ms\": {:.1}}}",
                elapsed.as_secs_f64() * 1000.0
            );
            sweeps.push(elapsed);
        }
        sweeps.sort();
        println!(
            "median sweep of {SERVICES} services: {:.1} ms (target <= 1000 ms)",
            sweeps[sweeps.len() / 2].as_secs_f64() * 1000.0
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
