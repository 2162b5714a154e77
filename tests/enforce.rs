//! Enforcement as users meet it: the block list apitap builds from the labeled benchmark's
//! alerts, loaded by the real engines (nginx, HAProxy, nftables, ipset, Apache with
//! ModSecurity), and a real nginx with `auth_request` in front of an upstream, asking
//! `apitap serve` about each request, blocking the clients apitap flagged.
//!
//! The engines come from apt (.ci/run installs them and sets APITAP_REQUIRE_ENGINES=1, so a
//! CI machine without one fails rather than skips). nftables and ipset load into a network
//! namespace of their own, which needs root.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The key the shared directory's credential hashes are made with.
const KEY: [u8; 32] = [0x5a; 32];
/// A token the tests block by hand (its keyed hash), as a stolen token would be.
const STOLEN: &str = "stolen-token-7d1f";

fn required() -> bool {
    std::env::var_os("APITAP_REQUIRE_ENGINES").is_some()
}

fn have(cmd: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Whether the engine is here; a missing one fails the test when engines are required.
fn engine(cmd: &str) -> bool {
    let ok = have(cmd);
    assert!(ok || !required(), "APITAP_REQUIRE_ENGINES is set but {cmd} is not installed");
    if !ok {
        eprintln!("skipping: {cmd} is not installed");
    }
    ok
}

/// The benchmark's records analysed once (alerts, block list) plus manual entries of every
/// kind the exports handle: a v4 and a v6 CIDR, a user, a token.
fn shared() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target/test-tmp").join(format!("enforce-shared-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(dir.join("hash.key"), hex + "\n").unwrap();
        let o = analyze_bench(None, &dir, &dir);
        assert!(o.status.success(), "{}", stderr(&o));
        for key in ["203.0.113.0/24", "2001:db8:5::/48", "198.51.100.77", "user:mallory"] {
            let o = bin().args(["blocklist", "add", "--out"]).arg(&dir).arg(key).output().unwrap();
            assert!(o.status.success(), "{key}: {}", stderr(&o));
        }
        // A leaked token, blocked by its header: only its keyed hash is stored.
        let o = bin().args(["blocklist", "add", "--out"]).arg(&dir).arg("--credential").arg(format!("Authorization: Bearer {STOLEN}")).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let token = sensor::hash::CredentialHasher::new(KEY).hash(STOLEN.as_bytes());
        assert!(stdout(&o).contains(&format!("token:{token}")), "{}", stdout(&o));
        dir
    })
}

/// `apitap analyze` of the labeled benchmark's records (unpacked into `work`) into `out`,
/// trained as the benchmark was, with `config` if given.
fn analyze_bench(config: Option<&Path>, work: &Path, out: &Path) -> std::process::Output {
    let mut gz = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(fixture("attack-bench/seed0/records.jsonl.gz")).unwrap()).read_to_string(&mut gz).unwrap();
    let records = work.join("bench.records.jsonl");
    std::fs::write(&records, gz).unwrap();
    let mut c = bin();
    if let Some(cfg) = config {
        c.arg("--config").arg(cfg);
    }
    c.arg("analyze").arg(&records).arg("--out").arg(out).args(["--train", "6m"]).output().unwrap()
}

fn export(format: &str, dir: &Path, to: &Path, env: &[(&str, &str)]) -> String {
    let o = bin().args(["blocklist", "export", "--format", format, "--out"]).arg(dir).arg("-O").arg(to).envs(env.iter().copied()).output().unwrap();
    assert!(o.status.success(), "{format}: {}", stderr(&o));
    std::fs::read_to_string(to).unwrap()
}

fn run_ok(c: &mut Command, what: &str) {
    let o = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(o.status.success(), "{what} refused the export:\n{}{}", stdout(&o), stderr(&o));
}

fn run_fails(c: &mut Command, what: &str) {
    let o = c.output().unwrap();
    assert!(!o.status.success(), "{what} accepted a broken file; the check proves nothing");
}

#[test]
fn the_block_list_holds_what_the_alerts_call_for() {
    let dir = shared();
    let o = bin().args(["blocklist", "list", "--format", "json", "--out"]).arg(dir).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<String> = v.as_array().unwrap().iter().map(|e| format!("{}:{}", e["key"]["kind"].as_str().unwrap(), e["key"]["value"].as_str().unwrap())).collect();
    // The BOLA attacker, a DDoS bot, the takeover's newcomer and the token it stole.
    for k in ["ip:10.77.2.6", "ip:10.77.3.17", "ip:10.77.2.9", "user:mallory"] {
        assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
    }
    assert!(v.as_array().unwrap().iter().any(|e| e["key"]["kind"] == "token" && e["attack"] == "account_takeover"), "the stolen token is not blocked");
    // No benign user (10.77.1.x) is blocked, and low-severity alerts block nothing.
    assert!(!keys.iter().any(|k| k.starts_with("ip:10.77.1.")), "{keys:?}");
    assert!(!keys.contains(&"ip:10.77.2.16".to_string()), "the low-severity sequence anomaly blocked its client");
    // The guardrail: a /8 is refused with a clear error.
    let o = bin().args(["blocklist", "add", "--out"]).arg(dir).arg("10.0.0.0/8").output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("wider than the guardrail"), "{}", stderr(&o));
    // The allow list: configured networks are never blocked.
    let tmp = TempDir::new("allow");
    let cfg = tmp.path().join("apitap.toml");
    std::fs::write(&cfg, "[blocklist]\nallow = [\"192.0.2.0/24\"]\n").unwrap();
    let o = bin().arg("--config").arg(&cfg).args(["blocklist", "add", "--out"]).arg(dir).arg("192.0.2.9").output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("allow-listed"), "{}", stderr(&o));
}

#[test]
fn nginx_and_haproxy_accept_their_exports() {
    let dir = shared();
    let tmp = TempDir::new("engines");
    let t = tmp.path();
    if engine("nginx") {
        let deny = export("nginx", dir, &t.join("deny.conf"), &[]);
        assert!(deny.contains("deny 10.77.2.6;") && deny.contains("deny 203.0.113.0/24;"), "{deny}");
        let maps = export("nginx-map", dir, &t.join("maps.conf"), &[]);
        assert!(maps.contains("\"mallory\" 1;") && maps.contains("\"token:"), "{maps}");
        let conf = |deny: &Path| {
            format!(
                "pid {t}/nginx.pid;\nevents {{}}\nhttp {{\n  access_log off;\n  include {t}/maps.conf;\n  server {{\n    listen 127.0.0.1:1;\n    location = /_a {{ internal; proxy_pass http://127.0.0.1:2/v1/decision; }}\n    location / {{\n      include {deny};\n      auth_request /_a;\n      auth_request_set $apitap_credential $upstream_http_x_apitap_credential;\n      if ($apitap_blocked_user) {{ return 403; }}\n      if ($apitap_blocked_credential) {{ return 403; }}\n      return 200;\n    }}\n  }}\n}}\n",
                t = t.display(),
                deny = deny.display()
            )
        };
        std::fs::write(t.join("nginx.conf"), conf(&t.join("deny.conf"))).unwrap();
        let check = |c: &str| {
            let mut cmd = Command::new("nginx");
            cmd.args(["-t", "-q", "-e"]).arg(t.join("error.log")).arg("-c").arg(t.join(c));
            cmd
        };
        run_ok(&mut check("nginx.conf"), "nginx -t");
        std::fs::write(t.join("bad.conf"), "deny 10.77.2.999;\n").unwrap();
        std::fs::write(t.join("nginx-bad.conf"), conf(&t.join("bad.conf"))).unwrap();
        run_fails(&mut check("nginx-bad.conf"), "nginx -t");
    }
    if engine("haproxy") {
        let acl = export("haproxy", dir, &t.join("blocked.acl"), &[]);
        assert!(acl.lines().any(|l| l == "10.77.2.6"), "{acl}");
        let cfg = |acl: &Path| {
            format!(
                "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nfrontend fe\n  bind 127.0.0.1:1\n  acl apitap_blocked src -f {}\n  http-request deny if apitap_blocked\n  default_backend be\nbackend be\n  server s1 127.0.0.1:2\n",
                acl.display()
            )
        };
        std::fs::write(t.join("haproxy.cfg"), cfg(&t.join("blocked.acl"))).unwrap();
        run_ok(Command::new("haproxy").arg("-c").arg("-f").arg(t.join("haproxy.cfg")), "haproxy -c");
        std::fs::write(t.join("bad.acl"), "10.77.2.999\n").unwrap();
        std::fs::write(t.join("haproxy-bad.cfg"), cfg(&t.join("bad.acl"))).unwrap();
        run_fails(Command::new("haproxy").arg("-c").arg("-f").arg(t.join("haproxy-bad.cfg")), "haproxy -c");
    }
}

#[test]
fn apache_modsecurity_accepts_its_export() {
    if !engine("apachectl") {
        return;
    }
    let module = Path::new("/usr/lib/apache2/modules/mod_security2.so");
    assert!(module.exists() || !required(), "APITAP_REQUIRE_ENGINES is set but mod_security2 is not installed");
    if !module.exists() {
        return;
    }
    let dir = shared();
    let tmp = TempDir::new("modsec");
    let t = tmp.path();
    for dry in [false, true] {
        let env: &[(&str, &str)] = if dry { &[("APITAP_BLOCKLIST__DRY_RUN", "true")] } else { &[] };
        let rules = export("modsecurity", dir, &t.join("rules.conf"), env);
        assert!(rules.contains("@ipMatch ") && rules.contains("10.77.2.6") && rules.contains("@streq mallory"), "{rules}");
        assert_eq!(rules.contains(",pass,"), dry, "{rules}");
        let conf = |rules: &Path| {
            format!(
                "ServerRoot /etc/apache2\nServerName apitap-test\nDefaultRuntimeDir {t}\nPidFile {t}/apache2.pid\nErrorLog {t}/error.log\nListen 127.0.0.1:1\n\
                 LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n\
                 LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n\
                 LoadModule unique_id_module /usr/lib/apache2/modules/mod_unique_id.so\n\
                 LoadModule security2_module /usr/lib/apache2/modules/mod_security2.so\n\
                 SecDataDir {t}\nSecRuleEngine On\nInclude {}\n",
                rules.display(),
                t = t.display()
            )
        };
        std::fs::write(t.join("apache2.conf"), conf(&t.join("rules.conf"))).unwrap();
        run_ok(Command::new("apachectl").arg("-t").arg("-f").arg(t.join("apache2.conf")), "apachectl -t");
        std::fs::write(t.join("bad.conf"), "SecRule REMOTE_ADDR \"@ipMatch 10.77.2.999\" \"id:1,phase:1,deny\"\n").unwrap();
        std::fs::write(t.join("apache2-bad.conf"), conf(&t.join("bad.conf"))).unwrap();
        run_fails(Command::new("apachectl").arg("-t").arg("-f").arg(t.join("apache2-bad.conf")), "apachectl -t");
    }
}

/// nftables and ipset load their exports into a namespace of their own (twice: a reload
/// replaces the previous list), and the kernel then holds the blocked addresses.
#[test]
fn nftables_and_ipset_load_their_exports() {
    let nft = engine("nft");
    let ipset = engine("ipset");
    if !is_root() {
        assert!(!required(), "APITAP_REQUIRE_ENGINES is set but the tests do not run as root (nft and ipset need a namespace)");
        eprintln!("skipping: nft and ipset need root");
        return;
    }
    let dir = shared();
    let tmp = TempDir::new("nft");
    let t = tmp.path();
    let ns = format!("apitap-enf-{}", std::process::id());
    run_ok(Command::new("ip").args(["netns", "add", &ns]), "ip netns add");
    struct Ns(String);
    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _guard = Ns(ns.clone());
    let in_ns = |args: &[&str]| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns]).args(args);
        c
    };
    if nft {
        let f = t.join("apitap.nft");
        export("nftables", dir, &f, &[]);
        let path = f.to_str().unwrap();
        run_ok(&mut in_ns(&["nft", "-c", "-f", path]), "nft -c -f");
        run_ok(&mut in_ns(&["nft", "-f", path]), "nft -f");
        run_ok(&mut in_ns(&["nft", "-f", path]), "nft -f (reload)");
        let o = in_ns(&["nft", "list", "set", "inet", "apitap", "blocked_v4"]).output().unwrap();
        let listed = stdout(&o);
        assert!(listed.contains("10.77.2.6 timeout") && listed.contains("203.0.113.0/24 timeout"), "{listed}");
        std::fs::write(t.join("bad.nft"), "table inet x { set s { type ipv4_addr; elements = { 10.77.2.999 } } }\n").unwrap();
        run_fails(&mut in_ns(&["nft", "-c", "-f", t.join("bad.nft").to_str().unwrap()]), "nft -c");
    }
    if ipset {
        let f = t.join("apitap.ipset");
        let text = export("ipset", dir, &f, &[]);
        for _ in 0..2 {
            let mut c = in_ns(&["ipset", "restore"]);
            let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "ipset restore refused the export: {}", stderr(&o));
        }
        let o = in_ns(&["ipset", "test", "apitap-v4", "10.77.2.6"]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let o = in_ns(&["ipset", "test", "apitap-v6", "2001:db8:5::1"]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let o = in_ns(&["ipset", "test", "apitap-v4", "10.77.1.5"]).output().unwrap();
        assert!(!o.status.success(), "a benign client is in the set");
    }
}

#[test]
fn json_exports_have_the_vendors_shapes() {
    let dir = shared();
    let tmp = TempDir::new("json");
    // AWS WAFv2 CreateIPSet: Name ^[\w-]+$ (1-128), Scope, IPAddressVersion, Addresses in
    // CIDR notation (at most 10,000), Description of the allowed characters.
    let aws: serde_json::Value = serde_json::from_str(&export("aws-waf", dir, &tmp.path().join("aws.json"), &[])).unwrap();
    let sets = aws.as_array().unwrap();
    assert_eq!(sets.len(), 2);
    for (s, version) in sets.iter().zip(["IPV4", "IPV6"]) {
        let name = s["Name"].as_str().unwrap();
        assert!(!name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{name}");
        assert!(s["Scope"] == "REGIONAL" || s["Scope"] == "CLOUDFRONT");
        assert_eq!(s["IPAddressVersion"], version);
        let desc = s["Description"].as_str().unwrap();
        assert!(desc.len() <= 256 && desc.chars().all(|c| c.is_alphanumeric() || " _+=:#@/-,.()".contains(c)), "{desc}");
        let addrs = s["Addresses"].as_array().unwrap();
        assert!(!addrs.is_empty() && addrs.len() <= 10_000);
        for a in addrs {
            let net: ipnet::IpNet = a.as_str().unwrap().parse().expect("CIDR notation");
            assert_eq!(net.addr().is_ipv6(), version == "IPV6", "{a}");
        }
    }
    // Cloudflare list items: {"ip", "comment"}; IPv4 /8-/32, IPv6 /12-/64.
    let cf: serde_json::Value = serde_json::from_str(&export("cloudflare", dir, &tmp.path().join("cf.json"), &[])).unwrap();
    let items = cf.as_array().unwrap();
    assert!(items.iter().any(|i| i["ip"] == "10.77.2.6"));
    for i in items {
        let ip = i["ip"].as_str().unwrap();
        assert!(i["comment"].as_str().unwrap().len() <= 500);
        let net: ipnet::IpNet = ip.parse().or_else(|_| ip.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).unwrap();
        match net {
            ipnet::IpNet::V4(n) => assert!((8..=32).contains(&n.prefix_len()), "{ip}"),
            ipnet::IpNet::V6(n) => assert!((12..=64).contains(&n.prefix_len()), "{ip}"),
        }
    }
    let plain = export("plain", dir, &tmp.path().join("plain.txt"), &[]);
    assert!(plain.lines().all(|l| l.parse::<ipnet::IpNet>().is_ok() || l.parse::<std::net::IpAddr>().is_ok()), "{plain}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A minimal HTTP/1.1 exchange: (status, head, body).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    req += body;
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A child stopped with SIGTERM (nginx's master then stops its workers, which SIGKILL would
/// orphan, holding the test's output open), killed if it lingers.
struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a child this struct owns and has not yet reaped.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, port: u16, env: &[(&str, &str)]) -> Killed {
    let child = bin()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--out"])
        .arg(dir)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let k = Killed(child);
    wait_for("apitap serve to listen", 20, || TcpStream::connect(("127.0.0.1", port)).ok());
    k
}

/// Polls `ready` until it gives a value, failing the test after `secs` seconds.
fn wait_for<T>(what: &str, secs: u64, mut ready: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The issue's end-to-end: a real nginx with `auth_request` in front of an upstream asks
/// `apitap serve`, which blocks the clients apitap flagged and lets the others through.
#[test]
fn nginx_auth_request_blocks_flagged_clients() {
    if !engine("nginx") {
        return;
    }
    let dir = shared();
    let tmp = TempDir::new("e2e");
    let t = tmp.path();
    let (api, front, upstream) = (free_port(), free_port(), free_port());
    let _serve = serve(dir, api, &[]);
    let conf = format!(
        "pid {t}/nginx.pid;\nerror_log {t}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n\
         server {{ listen 127.0.0.1:{upstream}; location / {{ return 200 \"upstream\\n\"; }} }}\n\
         server {{\n    listen 127.0.0.1:{front};\n    set_real_ip_from 127.0.0.1;\n    real_ip_header X-Forwarded-For;\n\
         location = /_apitap {{\n      internal;\n      proxy_pass http://127.0.0.1:{api}/v1/decision;\n      proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n      proxy_set_header X-Original-URI $request_uri;\n      proxy_set_header X-Original-Method $request_method;\n      proxy_set_header X-Apitap-Client-Ip $remote_addr;\n    }}\n\
         location / {{ auth_request /_apitap; proxy_pass http://127.0.0.1:{upstream}; }}\n  }}\n}}\n",
        t = t.display()
    );
    std::fs::write(t.join("nginx.conf"), conf).unwrap();
    let nginx = Command::new("nginx")
        .args(["-g", "daemon off;", "-e"])
        .arg(t.join("error.log"))
        .arg("-c")
        .arg(t.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _nginx = Killed(nginx);
    wait_for("nginx to listen", 10, || TcpStream::connect(("127.0.0.1", front)).ok());
    let get = |ip: &str, extra: &[(&str, &str)]| {
        let mut h = vec![("X-Forwarded-For", ip)];
        h.extend_from_slice(extra);
        http(front, "GET", "/api/v1/users/3", &h, "")
    };
    // The BOLA attacker and a DDoS bot (flagged from the capture), a manually blocked CIDR.
    for ip in ["10.77.2.6", "10.77.3.17", "203.0.113.40"] {
        assert_eq!(get(ip, &[]).0, 403, "{ip} was let through");
    }
    // Benign users of the benchmark pass, and reach the upstream.
    for ip in ["10.77.1.5", "10.77.1.60"] {
        let (status, _, body) = get(ip, &[]);
        assert_eq!((status, body.as_str()), (200, "upstream\n"), "{ip}");
    }
    // The stolen token is blocked from any address; the same user with another token passes.
    assert_eq!(get("10.77.1.5", &[("Authorization", &format!("Bearer {STOLEN}"))]).0, 403);
    assert_eq!(get("10.77.1.5", &[("Authorization", "Bearer another-token")]).0, 200);
    // Basic auth as a blocked user.
    assert_eq!(get("10.77.1.5", &[("Authorization", "Basic bWFsbG9yeTpwdw==")]).0, 403);
    // The service counted what it decided.
    let (_, _, metrics) = http(api, "GET", "/metrics", &[], "");
    let block_line = metrics.lines().find(|l| l.starts_with("apitap_decisions_total{result=\"block\"}")).unwrap_or("");
    assert!(block_line.ends_with(" 5"), "{block_line}\n{metrics}");
}

/// The sideband API as a gateway plug-in calls it (PingIntelligence-style JSON), the other
/// routes, dry-run and the access token, set through environment overrides.
#[test]
fn decision_api_sideband_json_and_routes() {
    let dir = shared();
    let port = free_port();
    let _s = serve(dir, port, &[]);
    let body = r#"{"source_ip":"10.77.2.6","source_port":"51234","method":"GET","url":"/api/v1/users/3","headers":[{"user-agent":"x"},{"host":"api"}]}"#;
    let (status, head, resp) = http(port, "POST", "/v1/decision", &[("Content-Type", "application/json")], body);
    assert_eq!(status, 403, "{head}\n{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!((v["decision"].as_str(), v["attack"].as_str(), v["kind"].as_str()), (Some("block"), Some("bola"), Some("ip")));
    assert!(head.to_ascii_lowercase().contains("x-apitap-reason: bola"), "{head}");
    let benign = r#"{"source_ip":"10.77.1.5","method":"GET","url":"/","headers":{"User-Agent":"x"}}"#;
    assert_eq!(http(port, "POST", "/v1/decision", &[], benign).0, 200);
    assert_eq!(http(port, "POST", "/v1/decision", &[], "{not json").0, 400);
    // The PingIntelligence path answers the same.
    assert_eq!(http(port, "POST", "/ase/request", &[], body).0, 403);
    let (status, _, list) = http(port, "GET", "/v1/blocklist?format=nftables", &[], "");
    assert!(status == 200 && list.contains("table inet apitap"), "{list}");
    assert_eq!(http(port, "GET", "/v1/blocklist?format=bogus", &[], "").0, 400);
    let (_, _, alerts) = http(port, "GET", "/v1/alerts?attack=bola", &[], "");
    let alerts: serde_json::Value = serde_json::from_str(&alerts).unwrap();
    assert_eq!(alerts.as_array().map(Vec::len), Some(1));
    let (status, _, health) = http(port, "GET", "/healthz", &[], "");
    assert!(status == 200 && health.contains("\"status\":\"ok\""), "{health}");

    // Dry run and a token, from the environment.
    let port = free_port();
    let _s = serve(dir, port, &[("APITAP_BLOCKLIST__DRY_RUN", "true"), ("APITAP_SERVE__TOKEN", "t0ken")]);
    assert_eq!(http(port, "POST", "/v1/decision", &[], body).0, 401);
    assert_eq!(http(port, "GET", "/healthz", &[], "").0, 200);
    let (status, head, resp) = http(port, "POST", "/v1/decision", &[("X-Apitap-Token", "t0ken")], body);
    assert_eq!(status, 200, "{resp}");
    assert!(head.to_ascii_lowercase().contains("x-apitap-decision: would-block"), "{head}");
}

#[test]
fn config_check_reports_errors_and_env_overrides() {
    let tmp = TempDir::new("config");
    let good = tmp.path().join("good.toml");
    std::fs::write(&good, "[blocklist]\ndry_run = false\n[blocklist.ttl]\nhigh = \"2h\"\n[[outputs]]\ntype = \"syslog\"\naddress = \"127.0.0.1:514\"\nformat = \"ecs\"\n").unwrap();
    let o = bin().args(["config", "check"]).arg(&good).env("APITAP_BLOCKLIST__DRY_RUN", "true").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("dry run") && stdout(&o).contains("high 7200s") && stdout(&o).contains("syslog udp"), "{}", stdout(&o));
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[blocklist]\nmax_entrys = 3\n").unwrap();
    let o = bin().args(["config", "check"]).arg(&bad).output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("max_entrys") && stderr(&o).contains("bad.toml"), "{}", stderr(&o));
    // A bad configuration stops replay before it writes anything.
    let out = tmp.path().join("out");
    let o = bin().arg("--config").arg(&bad).arg("replay").arg(fixture("golden/hash.key")).arg("--out").arg(&out).output().unwrap();
    assert!(!o.status.success() && !out.exists(), "{}", stderr(&o));
}

/// Alert outputs chosen in the configuration, each against a local receiver: syslog over UDP
/// (ECS), syslog over TCP (OCSF), a webhook (apitap's JSON), and a file.
#[test]
fn alert_outputs_reach_local_receivers() {
    let tmp = TempDir::new("outputs");
    let t = tmp.path();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = t.join("apitap.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[outputs]]\ntype = \"syslog\"\naddress = \"{}\"\nformat = \"ecs\"\n\n[[outputs]]\ntype = \"syslog\"\naddress = \"{}\"\ntransport = \"tcp\"\nformat = \"ocsf\"\nfacility = \"authpriv\"\n\n[[outputs]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://{}/alerts\"\nmin_severity = \"critical\"\n\n[[outputs]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n",
            udp.local_addr().unwrap(),
            tcp.local_addr().unwrap(),
            hook.local_addr().unwrap(),
            t.join("findings.jsonl").display()
        ),
    )
    .unwrap();
    // The TCP receiver reads octet-counted frames until the sender closes.
    let tcp_rx = std::thread::spawn(move || {
        let (c, _) = tcp.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut r = std::io::BufReader::new(c);
        let mut msgs = Vec::new();
        loop {
            let mut len = Vec::new();
            if std::io::BufRead::read_until(&mut r, b' ', &mut len).unwrap_or(0) == 0 {
                break;
            }
            let n: usize = String::from_utf8_lossy(&len).trim().parse().expect("octet count");
            let mut m = vec![0u8; n];
            r.read_exact(&mut m).unwrap();
            msgs.push(String::from_utf8(m).unwrap());
        }
        msgs
    });
    // The webhook receiver answers 200 to each POST until apitap has exited (it delivers
    // what is queued before it does) and no connection is waiting.
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = std::sync::Arc::clone(&finished);
    let hook_rx = std::thread::spawn(move || {
        hook.set_nonblocking(true).unwrap();
        let mut bodies = Vec::new();
        loop {
            let c = match hook.accept() {
                Ok((c, _)) => c,
                Err(_) if done.load(std::sync::atomic::Ordering::SeqCst) => break,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = std::io::BufReader::new(c);
            let mut len = 0;
            loop {
                let mut line = String::new();
                if std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut b = vec![0u8; len];
            r.read_exact(&mut b).unwrap();
            bodies.push(String::from_utf8(b).unwrap());
            let mut c = r.into_inner();
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
        bodies
    });
    let out = t.join("out");
    let o = analyze_bench(Some(&cfg), t, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let alerts = std::fs::read_to_string(out.join("alerts.jsonl")).unwrap().lines().count();
    let critical = std::fs::read_to_string(out.join("alerts.jsonl")).unwrap().lines().filter(|l| l.contains("\"severity\":\"critical\"")).count();

    let mut udp_msgs = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = udp.recv(&mut buf) {
        udp_msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    // Every alert was sent at least once (updates may follow as incidents go on).
    let ids = |msgs: &[String], field: &dyn Fn(&serde_json::Value) -> String| {
        let mut v: Vec<String> = msgs
            .iter()
            .map(|m| {
                let json = &m[m.find('{').expect("JSON payload")..];
                field(&serde_json::from_str(json).expect("payload is JSON"))
            })
            .collect();
        v.sort();
        v.dedup();
        v.len()
    };
    for m in &udp_msgs {
        assert!(m.starts_with("<13") && m.contains(" apitap ") && m.contains("[apitap@32473 id=\""), "{m}");
    }
    assert_eq!(ids(&udp_msgs, &|d| d["event"]["id"].as_str().unwrap().to_string()), alerts, "syslog/udp (ECS)");
    let tcp_msgs = tcp_rx.join().unwrap();
    for m in &tcp_msgs {
        // authpriv (10) * 8 + err/crit/warning/notice.
        assert!(m.starts_with("<8") && m.contains("\"class_uid\":2004"), "{m}");
    }
    assert_eq!(ids(&tcp_msgs, &|d| d["finding_info"]["uid"].as_str().unwrap().to_string()), alerts, "syslog/tcp (OCSF)");
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    let bodies = hook_rx.join().unwrap();
    assert_eq!(ids(&bodies, &|d| d["id"].as_str().unwrap().to_string()), critical, "webhook (critical only)");
    let findings: Vec<String> = std::fs::read_to_string(t.join("findings.jsonl")).unwrap().lines().map(String::from).collect();
    assert_eq!(ids(&findings, &|d| d["finding_info"]["uid"].as_str().unwrap().to_string()), alerts, "file (OCSF)");
    assert!(stdout(&o).contains("output hook"), "{}", stdout(&o));
}

/// A webhook over HTTPS to a receiver whose certificate a private CA signed: delivered with
/// `ca_file`, refused (and counted as failed) without it, since the public roots do not
/// vouch for it.
#[test]
fn webhook_over_https_trusts_only_what_it_is_told() {
    if !engine("openssl") || !engine("python3") {
        return;
    }
    let tmp = TempDir::new("https");
    let t = tmp.path();
    // A private CA and a server certificate it signs (webpki refuses a self-signed CA
    // certificate presented as the server's own, as it should).
    let ssl = |args: &[&str]| {
        let mut c = Command::new("openssl");
        c.current_dir(t).args(args).stderr(Stdio::null());
        run_ok(&mut c, "openssl");
    };
    ssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=apitap-test-ca", "-keyout", "ca.key", "-out", "ca.pem"]);
    ssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "leaf.csr"]);
    std::fs::write(
        t.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    ssl(&["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "ext.cnf", "-out", "cert.pem"]);
    let server = r#"
import http.server, ssl, sys
port_file, cert, key, out = sys.argv[1:5]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('content-length', 0)))
        with open(out, 'ab') as f:
            f.write(body + b'\n')
        self.send_response(200)
        self.send_header('content-length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(port_file + '.tmp', 'w').write(str(srv.server_address[1]))
import os; os.rename(port_file + '.tmp', port_file)
srv.serve_forever()
"#;
    std::fs::write(t.join("server.py"), server).unwrap();
    let child = Command::new("python3")
        .arg(t.join("server.py"))
        .arg(t.join("port"))
        .arg(t.join("cert.pem"))
        .arg(t.join("key.pem"))
        .arg(t.join("received.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Killed(child);
    let port = wait_for("the HTTPS receiver to start", 20, || std::fs::read_to_string(t.join("port")).ok().map(|p| p.trim().to_string()));
    let cfg = t.join("apitap.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[outputs]]\nname = \"trusted\"\ntype = \"webhook\"\nurl = \"https://127.0.0.1:{port}/hook\"\nca_file = \"{}\"\nmin_severity = \"critical\"\n\n[[outputs]]\nname = \"public\"\ntype = \"webhook\"\nurl = \"https://127.0.0.1:{port}/hook\"\nretries = 0\nmin_severity = \"critical\"\n",
            t.join("ca.pem").display()
        ),
    )
    .unwrap();
    let out = t.join("out");
    let o = analyze_bench(Some(&cfg), t, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let alerts = std::fs::read_to_string(out.join("alerts.jsonl")).unwrap();
    let mut critical: Vec<String> = alerts
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["severity"] == "critical")
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    critical.sort();
    let received = std::fs::read_to_string(t.join("received.jsonl")).unwrap_or_default();
    let mut got: Vec<String> = received.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string()).collect();
    got.sort();
    got.dedup();
    assert!(!critical.is_empty());
    assert_eq!(got, critical, "over HTTPS with the private CA");
    // Without the CA, every send failed certificate verification: counted and reported.
    let err = stderr(&o);
    assert!(err.contains("output public: 0 alerts sent") && err.contains(&format!("{} failed", critical.len())), "{err}");
}
