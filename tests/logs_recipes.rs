#![allow(clippy::unwrap_used)]
//! The guides' log recipes on files in the real formats: a Debian auth.log with sshd's failed
//! logins, and a generated nginx access log whose figures the test tallies while writing it.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;

use opsdeck::core::logs::recipes::{AccessStats, FailedLogins, IpTally, RequestTime};

/// Lines the way rsyslog writes /var/log/auth.log on Debian 12 (OpenSSH 9.2).
const AUTH_LOG: &str = "\
Dec  5 02:58:01 web1 CRON[30211]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)
Dec  5 03:01:12 web1 sshd[30342]: Invalid user admin from 203.0.113.9 port 40112
Dec  5 03:01:14 web1 sshd[30342]: pam_unix(sshd:auth): check pass; user unknown
Dec  5 03:01:14 web1 sshd[30342]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9
Dec  5 03:01:16 web1 sshd[30342]: Failed password for invalid user admin from 203.0.113.9 port 40112 ssh2
Dec  5 03:01:18 web1 sshd[30342]: Connection closed by invalid user admin 203.0.113.9 port 40112 [preauth]
Dec  5 03:01:20 web1 sshd[30350]: Failed password for root from 203.0.113.9 port 40120 ssh2
Dec  5 03:01:24 web1 sshd[30350]: message repeated 2 times: [ Failed password for root from 203.0.113.9 port 40120 ssh2]
Dec  5 03:01:25 web1 sshd[30350]: error: maximum authentication attempts exceeded for root from 203.0.113.9 port 40120 ssh2 [preauth]
Dec  5 03:01:25 web1 sshd[30350]: Disconnecting authenticating user root 203.0.113.9 port 40120: Too many authentication failures [preauth]
Dec  5 03:02:40 web1 sshd[30388]: Invalid user oracle from 198.51.100.23 port 51822
Dec  5 03:02:41 web1 sshd[30388]: Received disconnect from 198.51.100.23 port 51822:11: Bye Bye [preauth]
Dec  5 03:02:41 web1 sshd[30388]: Disconnected from invalid user oracle 198.51.100.23 port 51822 [preauth]
Dec  5 03:05:02 web1 sshd[30401]: Failed password for deploy from 192.0.2.15 port 60001 ssh2
Dec  5 03:05:09 web1 sshd[30401]: Accepted password for deploy from 192.0.2.15 port 60001 ssh2
Dec  5 03:05:09 web1 sshd[30401]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)
Dec  5 03:07:33 web1 sshd[30433]: Failed publickey for git from 2001:db8::42 port 33010 ssh2
Dec  5 03:09:50 web1 sshd[30460]: Invalid user test from 203.0.113.9 port 40200
Dec  5 03:09:52 web1 sshd[30460]: Failed password for invalid user test from 203.0.113.9 port 40200 ssh2
Dec  5 03:10:00 web1 sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx
";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn failed_logins_from_a_real_format_auth_log() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("auth.log");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(AUTH_LOG.as_bytes()).unwrap();
    // A binary junk line, as a corrupted log holds: read lossily, ignored.
    file.write_all(b"Dec  5 03:11:00 web1 sshd[1]: \xff\xfe\x00\x1b[2J Failed\n")
        .unwrap();
    drop(file);

    let mut logins = FailedLogins::new(4);
    let reader = BufReader::new(std::fs::File::open(&path).unwrap());
    let mut matched = 0;
    for line in reader.split(b'\n') {
        let line = line.unwrap();
        if logins.observe_line(&String::from_utf8_lossy(&line)) {
            matched += 1;
        }
    }

    assert_eq!(matched, 9);
    // admin, root ×3 (one line, then two repeated), deploy, git, test.
    assert_eq!(logins.failures, 7);
    assert_eq!(logins.invalid_users, 3);
    assert_eq!(
        logins.by_ip(ip("203.0.113.9")),
        IpTally {
            failures: 5,
            invalid_users: 2
        }
    );
    assert_eq!(
        logins.by_ip(ip("198.51.100.23")),
        IpTally {
            failures: 0,
            invalid_users: 1
        }
    );
    assert_eq!(logins.by_ip(ip("2001:db8::42")).failures, 1);
    assert_eq!(logins.by_user("root"), 3);
    assert_eq!(logins.by_user("admin"), 1);
    assert_eq!(
        logins.by_user("oracle"),
        0,
        "an invalid-user line is not a failure"
    );
    assert_eq!(logins.top_users(1), vec![("root", 3)]);
    assert_eq!(logins.top_ips(1)[0].0, ip("203.0.113.9"));
    let suspicious: Vec<IpAddr> = logins.suspicious().into_iter().map(|(ip, _)| ip).collect();
    assert_eq!(suspicious, vec![ip("203.0.113.9")]);
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

const PATHS: [&str; 6] = [
    "/",
    "/api/orders",
    "/api/users/42",
    "/health",
    "/static/app.js",
    "/login",
];
const STATUSES: [u16; 8] = [200, 200, 200, 201, 304, 404, 500, 503];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[test]
fn access_log_figures_match_an_independent_tally() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("access.log");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut random = Lcg(15);

    let mut requests = 0u64;
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut endpoints: HashMap<&str, u64> = HashMap::new();
    let mut hourly = [0u64; 24];
    let mut times_ms: Vec<f64> = Vec::new();
    let mut junk = 0u64;
    for index in 0..20_000u64 {
        if index % 1000 == 999 {
            writeln!(file, "\u{1b}[31mnot a request {index}\u{0}").unwrap();
            junk += 1;
            continue;
        }
        let hour = random.next(24);
        let path = PATHS[random.next(PATHS.len() as u64) as usize];
        let status = STATUSES[random.next(STATUSES.len() as u64) as usize];
        let query = if random.next(3) == 0 {
            "?page=3&q=x"
        } else {
            ""
        };
        let millis = 1 + random.next(3000);
        let month = MONTHS[random.next(12) as usize];
        writeln!(
            file,
            "10.1.{}.{} - - [{:02}/{month}/2026:{hour:02}:{:02}:{:02} +0000] \"GET {path}{query} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" {}.{:03}",
            random.next(256),
            random.next(256),
            1 + random.next(28),
            random.next(60),
            random.next(60),
            random.next(100_000),
            millis / 1000,
            millis % 1000,
        )
        .unwrap();
        requests += 1;
        *statuses.entry(status).or_default() += 1;
        *endpoints.entry(path).or_default() += 1;
        hourly[hour as usize] += 1;
        times_ms.push(millis as f64);
    }
    drop(file);

    let mut stats = AccessStats::default();
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text.lines() {
        stats.observe_line(line, RequestTime::Seconds);
    }

    assert_eq!(stats.requests, requests);
    assert_eq!(stats.unparsed, junk);
    assert_eq!(stats.status_distribution(), statuses);
    let errors = statuses.get(&500).unwrap() + statuses.get(&503).unwrap();
    let pct = stats.server_error_pct().unwrap();
    assert!((pct - errors as f64 * 100.0 / requests as f64).abs() < 1e-9);
    assert_eq!(stats.hourly(), hourly);

    let mut expected: Vec<(&str, u64)> = endpoints.into_iter().collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    expected.truncate(3);
    assert_eq!(stats.top_endpoints(3), expected);

    let mean = times_ms.iter().sum::<f64>() / times_ms.len() as f64;
    assert!((stats.mean_ms().unwrap() - mean).abs() < 1e-6);
    times_ms.sort_by(f64::total_cmp);
    let rank = (0.95 * times_ms.len() as f64).ceil() as usize;
    let exact_p95 = times_ms[rank - 1];
    let p95 = stats.p95_ms().unwrap();
    assert!(
        p95 >= exact_p95 * 0.999_999 && p95 <= exact_p95 * 1.01,
        "p95 {p95} against exact {exact_p95}"
    );
}
