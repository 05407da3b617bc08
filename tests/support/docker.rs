//! Throwaway Docker containers for the containers tests: the daemon must run (`.ci/run` starts
//! `dockerd --storage-driver=vfs` and stops it after), the image `local/busybox:test` is made
//! without a registry from busybox-static (a root filesystem of /bin/busybox and its applet
//! links, imported like `docker import`), and every container is named
//! `opsdeck-test-<pid>-<label>` and removed when its guard drops, during a panic unwind too.

use std::io::Write as _;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, RestartPolicy};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, RemoveContainerOptions, StartContainerOptions,
};
use futures_util::StreamExt;

pub const IMAGE: &str = "local/busybox:test";
const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &["sh", "sleep", "head", "tr", "echo", "printf", "cat", "true"];

/// One image import at a time: tests of one binary run in parallel.
static IMPORTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The daemon, answering; a clear failure when it does not.
pub async fn docker() -> Docker {
    opsdeck::core::containers::docker::connect()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "these tests need a running Docker: {error}\n(as root: dockerd --storage-driver=vfs &, which .ci/run does)"
            )
        })
}

/// `local/busybox:test`, imported once.
pub async fn image(docker: &Docker) {
    let _one = IMPORTING.lock().await;
    if docker.inspect_image(IMAGE).await.is_ok() {
        return;
    }
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    archive
        .append_data(&mut header, "bin", std::io::empty())
        .unwrap();
    let busybox = std::fs::read(BUSYBOX).unwrap_or_else(|error| {
        panic!("{BUSYBOX}: {error} (apt-get install busybox-static, which .ci/run does)")
    });
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o755);
    header.set_size(busybox.len() as u64);
    archive
        .append_data(&mut header, "bin/busybox", busybox.as_slice())
        .unwrap();
    for applet in APPLETS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        archive
            .append_link(&mut header, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let mut tarball = archive.into_inner().unwrap();
    tarball.flush().unwrap();
    let (repo, tag) = IMAGE.split_once(':').unwrap();
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag.into()),
        ..Default::default()
    };
    let mut progress = docker.create_image(
        Some(options),
        Some(bollard::body_full(tarball.into())),
        None,
    );
    while let Some(step) = progress.next().await {
        step.expect("importing the busybox image");
    }
}

/// What a test container runs and how.
#[derive(Default)]
pub struct Spec<'a> {
    pub cmd: &'a [&'a str],
    pub restart_always: bool,
    pub memory_bytes: Option<i64>,
    /// A shell command as HEALTHCHECK, every second, unhealthy after one failure.
    pub healthcheck: Option<&'a str>,
    pub labels: &'a [(&'a str, &'a str)],
}

/// A started container, removed (forced) on drop.
pub struct TestContainer {
    pub name: String,
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await, and the test's runtime may be gone: a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(docker) = opsdeck::core::containers::docker::connect().await {
                    let options = RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    };
                    let _ = docker.remove_container(&name, Some(options)).await;
                }
            });
        })
        .join();
    }
}

/// Creates and starts `opsdeck-test-<pid>-<label>` (no network: nothing leaves the machine).
pub async fn start(docker: &Docker, label: &str, spec: Spec<'_>) -> TestContainer {
    image(docker).await;
    let name = format!("opsdeck-test-{}-{label}", std::process::id());
    let guard = TestContainer { name: name.clone() };
    let second: i64 = 1_000_000_000;
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(spec.cmd.iter().map(|arg| (*arg).to_owned()).collect()),
        labels: Some(
            spec.labels
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        ),
        healthcheck: spec.healthcheck.map(|check| HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), check.into()]),
            interval: Some(second),
            timeout: Some(2 * second),
            retries: Some(1),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            memory: spec.memory_bytes,
            memory_swap: spec.memory_bytes,
            restart_policy: spec.restart_always.then_some(RestartPolicy {
                name: Some(bollard::models::RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    docker
        .create_container(Some(options), body)
        .await
        .unwrap_or_else(|error| panic!("creating {name}: {error}"));
    docker
        .start_container(&name, None::<StartContainerOptions>)
        .await
        .unwrap_or_else(|error| panic!("starting {name}: {error}"));
    guard
}

/// Polls `check` every 500 ms until it gives `Some`, failing after `limit` with `what`.
pub async fn eventually<T>(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {} s",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
