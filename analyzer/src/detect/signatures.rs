//! Payload signatures: what a request carries that no API client sends by accident: SQL
//! injection, script and command injection, path traversal, template and JNDI (log4j)
//! expressions, and the marks vulnerability scanners and fuzzers leave (their user agents,
//! the paths of known vulnerable software).
//!
//! Input is decoded before matching (percent-decoding twice, `+` as space, SQL comments
//! as spaces), so `%2527%20OR%201%3D1` and `'/**/OR/**/1=1` read as what they are. Matching
//! is one pass of one [`RegexSet`] of every payload pattern per text; bounded: at most
//! [`MAX_SCAN`] bytes of each text.

use regex::{Regex, RegexSet, RegexSetBuilder};
use std::sync::OnceLock;

/// Bytes of a URI, body or header scanned; payloads are short, and bounded work per call
/// keeps a hostile multi-megabyte body from costing more than a normal one.
pub const MAX_SCAN: usize = 8 << 10;

/// What a call's payload matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hits {
    pub sqli: bool,
    pub xss: bool,
    pub command: bool,
    pub traversal: bool,
    pub template: bool,
    pub jndi: bool,
    /// A known vulnerability scanner's user agent (nikto, nmap NSE, nuclei, ...). Injection
    /// tools (sqlmap, commix) are not scanners: their payloads name their class.
    pub scanner_agent: bool,
    /// A fuzzer's user agent (ffuf, wfuzz, gobuster, dirbuster).
    pub fuzzer_agent: bool,
    /// A path of known-vulnerable software or leaked files (`/.git/config`, `/phpmyadmin/`).
    pub vuln_path: bool,
}

impl Hits {
    /// Any code-injection kind (everything but SQL, which is its own class).
    pub fn code(&self) -> bool {
        self.xss || self.command || self.traversal || self.template || self.jndi
    }
}

const SQLI: &[&str] = &[
    r"\bunion\b(\s+all)?\s+select\b",
    r"['`)(;]\s*select\b",
    r"\bselect\s+(\*|null\b|count\s*\(|@@|\w+\s*\(|\w+\s*,\s*\w+\s+from\b)",
    r"['`)]\s*(and|or|xor|having|order\s+by|group\s+by|union|;)",
    r"\b(and|or|xor)\s+\(?\s*'?\w+'?\s*(=|<|>|like)\s*'?\w+'?",
    r"\b(and|or)\s+(not\s+)?\d+\s*=\s*\d+",
    r"\b(sleep|benchmark|pg_sleep|randomblob|extractvalue|updatexml|load_file|utl_inaddr\.get_host_address)\s*\(",
    r"\bwaitfor\s+delay\b",
    r"\b(information_schema|sqlite_master|pg_catalog|sysobjects|mysql\.user)\b",
    r"@@version|\bxp_cmdshell\b|\binto\s+(out|dump)file\b",
    r"['`]\s*(--|#)",
    r"\border\s+by\s+\d+\s*(--|#|$)",
    r"\bcase\s+when\b.{1,80}\bthen\b",
    r"\b(char|chr|concat)\s*\(\s*\d+\s*(,\s*\d+\s*)+\)",
];

const XSS: &[&str] = &[
    r"<\s*/?\s*(script|iframe|svg|img|body|object|embed|style|link|meta|marquee|frameset|input|video|audio)\b",
    r"\bjavascript\s*:",
    r"\bvbscript\s*:",
    r"\bon(error|load|mouseover|focus|click|mouseenter|submit|toggle|begin)\s*=",
    r"\b(alert|prompt|confirm)\s*[(`]",
    r"document\.(cookie|location|domain)|window\.location",
    r"<\s*[a-z]+[^>]*\bstyle\s*=.{0,40}expression\s*\(",
];

const COMMAND: &[&str] = &[
    r"(^|[;&|`]|\$\()\s*(cat|id|uname|whoami|ls|wget|curl|nc|ncat|bash|sh|ping|nslookup|echo|sleep|ifconfig|net\s+user|powershell|cmd(\.exe)?)\b",
    r"\$\(\s*[a-z]",
    r"`\s*[a-z]+[^`]*`",
    r"\|\s*(sh|bash)\b",
    r"/bin/(ba)?sh\b",
    r"\bnc\s+(-e|-c)\b",
];

const TRAVERSAL: &[&str] = &[
    r"(\.\.[/\\]){1,}",
    r"[/\\]\.\.$",
    r"/etc/(passwd|shadow|hosts|group)\b",
    r"\b(boot|win)\.ini\b",
    r"/proc/self/",
    r"\bc:[/\\](windows|winnt)\b",
    r"\bwebapps?[/\\]web-inf\b|\bweb-inf[/\\]web\.xml\b",
];

const TEMPLATE: &[&str] =
    &[r"\{\{.{0,200}\}\}", r"\$\{\s*\d+\s*[*+]\s*\d+\s*\}", r"<%=?.{0,200}%>", r"#\{.{0,200}\}", r"__class__|__globals__|__mro__"];

const JNDI: &[&str] = &[r"\$\{\s*jndi\s*:", r"\$\{\s*\$\{", r"\$\{\s*(lower|upper|env|sys|java|date)\s*:"];

const SCANNER_AGENTS: &[&str] = &[
    "nikto",
    "nmap scripting engine",
    "nessus",
    "openvas",
    "acunetix",
    "nuclei",
    "wpscan",
    "w3af",
    "arachni",
    "wapiti",
    "zgrab",
    "masscan",
    "netsparker",
    "qualys",
    "skipfish",
    "whatweb",
    "jaeles",
    "zap/",
];

const FUZZER_AGENTS: &[&str] = &["fuzz faster u fool", "wfuzz", "gobuster", "dirbuster", "feroxbuster", "dirsearch"];

const VULN_PATHS: &[&str] = &[
    r"/\.(git|svn|hg|bzr)(/|$)",
    r"/\.(env|htaccess|htpasswd|ds_store|aws|ssh|bash_history|npmrc|dockercfg)\b",
    r"/(wp-admin|wp-login\.php|wp-content|wp-includes|xmlrpc\.php)\b",
    r"/(phpmyadmin|pma|myadmin|phpinfo\.php|adminer\.php)\b",
    r"/cgi-bin/",
    r"/(server-status|server-info)\b",
    r"/(actuator|jolokia|jmx-console|web-console|invoker|manager/html|solr/admin|console)\b",
    r"\.(bak|old|orig|save|swp|sql|tar\.gz|zip)$",
    r"~$",
    r"/(config|configuration|settings|database|db|web)\.(php|inc|ini|yml|yaml|json|xml|config)\b",
    r"/(shell|cmd|c99|r57|webshell)\.(php|asp|aspx|jsp)\b",
    r"/(struts|axis2|hnap1|boaform|vendor/phpunit|telescope|_ignition)\b",
];

struct Compiled {
    /// SQLI, XSS, COMMAND, TRAVERSAL, TEMPLATE and JNDI in one set, so that a text is read
    /// once rather than once per class: six passes over every request body were a tenth of
    /// the analysis thread's time.
    payload: RegexSet,
    sqli: RegexSet,
    jndi: RegexSet,
    vuln_paths: RegexSet,
    sql_comment: Regex,
}

fn set(patterns: &[&str]) -> RegexSet {
    // The patterns are constants tested below; a failure here is a bug in them.
    RegexSetBuilder::new(patterns).case_insensitive(true).size_limit(1 << 24).build().expect("signature patterns compile")
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| Compiled {
        payload: set(&CLASSES.concat()),
        sqli: set(SQLI),
        jndi: set(JNDI),
        vuln_paths: set(VULN_PATHS),
        sql_comment: Regex::new(r"/\*.*?\*/").expect("comment pattern compiles"),
    })
}

/// Percent-decodes (twice, for double encoding), reads `+` as a space, and folds SQL
/// comments to spaces. Invalid UTF-8 is replaced, never an error.
pub fn decode(text: &[u8]) -> String {
    let text = &text[..text.len().min(MAX_SCAN)];
    let once = percent_encoding::percent_decode(text).collect::<Vec<u8>>();
    let mut twice: Vec<u8> = if once.contains(&b'%') { percent_encoding::percent_decode(&once).collect() } else { once };
    // `+` is one byte in UTF-8 and never part of another character's, so it is replaced
    // in the bytes, and valid text (nearly all of it) becomes a string without a copy.
    for b in twice.iter_mut().filter(|b| **b == b'+') {
        *b = b' ';
    }
    let s = String::from_utf8(twice).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let c = compiled();
    if s.contains("/*") {
        c.sql_comment.replace_all(&s, " ").into_owned()
    } else {
        s
    }
}

/// The payload classes in the order of [`Compiled::payload`] and of [`Classes`].
const CLASSES: [&[&str]; 6] = [SQLI, XSS, COMMAND, TRAVERSAL, TEMPLATE, JNDI];

/// Which of [`CLASSES`] matched.
type Classes = [bool; 6];

/// The classes whose patterns match `text`, in one pass.
fn classes(c: &Compiled, text: &str) -> Classes {
    let mut out = [false; 6];
    let mut base = 0;
    let matches = c.payload.matches(text);
    for (hit, patterns) in out.iter_mut().zip(CLASSES) {
        *hit = (base..base + patterns.len()).any(|i| matches.matched(i));
        base += patterns.len();
    }
    out
}

/// Scans the parts of a request a payload can travel in. `target` is the raw URI, `body`
/// the request body (if captured), `agent` the User-Agent header.
pub fn scan(target: Option<&str>, body: Option<&[u8]>, agent: Option<&str>) -> Hits {
    let c = compiled();
    let mut h = Hits::default();
    let payload = |h: &mut Hits, text: &str| {
        let [sqli, xss, command, traversal, template, jndi] = classes(c, text);
        h.sqli |= sqli;
        h.xss |= xss;
        h.command |= command;
        h.traversal |= traversal;
        h.template |= template;
        h.jndi |= jndi;
    };
    if let Some(t) = target {
        let (path, query) = match t.find('?') {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        // Path segments are matched one by one: a path is not a SQL statement, and the
        // SQL patterns would otherwise match `/select/x/from`.
        let dpath = decode(path.as_bytes());
        if let Some(q) = query {
            for part in q.split('&') {
                let v = part.split_once('=').map_or(part, |(_, v)| v);
                payload(&mut h, &decode(v.as_bytes()));
            }
        }
        let [_, xss, _, traversal, template, jndi] = classes(c, &dpath);
        h.traversal |= traversal;
        h.xss |= xss;
        h.jndi |= jndi;
        h.template |= template;
        for seg in dpath.split('/') {
            h.sqli |= seg.contains('\'') && c.sqli.is_match(seg);
        }
        h.vuln_path = c.vuln_paths.is_match(&dpath);
    }
    if let Some(b) = body {
        payload(&mut h, &decode(b));
    }
    if let Some(a) = agent {
        let a = &a[..floor_char(a, MAX_SCAN)];
        h.jndi |= c.jndi.is_match(a);
        let low = a.to_ascii_lowercase();
        h.scanner_agent = SCANNER_AGENTS.iter().any(|s| low.contains(s));
        h.fuzzer_agent = FUZZER_AGENTS.iter().any(|s| low.contains(s));
        h.sqli |= c.sqli.is_match(a) && a.contains('\'');
    }
    h
}

fn floor_char(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(uri: &str) -> Hits {
        scan(Some(uri), None, None)
    }

    #[test]
    fn sql_injection_forms() {
        for u in [
            "/search?q=lamp%27%20OR%201%3D1--",
            "/search?q=lamp') AND 5432=5432 AND ('abc'='abc",
            "/search?q=1 UNION ALL SELECT NULL,NULL--",
            "/s?q=x'/**/or/**/'1'='1",
            "/s?id=1 AND SLEEP(5)",
            "/s?id=1%2527%2520OR%25201%253D1",
            "/s?q=x' AND 1=CAST((SELECT sqlite_version()) AS INT)--",
        ] {
            assert!(q(u).sqli, "{u}");
        }
    }

    #[test]
    fn code_injection_forms() {
        assert!(q("/s?q=<script>alert(1)</script>").xss);
        assert!(q("/s?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E").xss);
        assert!(q("/s?q=;cat /etc/passwd").command);
        assert!(q("/s?q=$(whoami)").command);
        assert!(q("/s?file=../../../../etc/passwd").traversal);
        assert!(q("/static/..%2f..%2fetc/passwd").traversal);
        assert!(q("/s?q={{7*7}}").template);
        assert!(q("/s?q=${jndi:ldap://x/a}").jndi);
        assert!(scan(None, None, Some("${${lower:j}ndi:ldap://e/b}")).jndi);
    }

    #[test]
    fn benign_api_traffic_is_clean() {
        for u in [
            "/api/v1/products?page=2&limit=20",
            "/api/v1/search?q=oak+table",
            "/api/v1/users/42/orders",
            "/api/v1/search?q=rock+and+roll",
            "/api/v1/search?q=select+from+our+range",
            "/docs/select/from/here",
            "/api/v1/search?q=o'neil",
            "/api/v1/reports/export?from=2024-01-01&to=2024-02-01",
        ] {
            let h = q(u);
            assert!(!h.sqli && !h.code() && !h.vuln_path, "{u}: {h:?}");
        }
        let body = br#"{"items":[{"sku":"SKU-1","qty":2}],"note":"leave at door; ring bell","tpl":{"a":{"b":1}}}"#;
        let h = scan(Some("/api/v1/orders"), Some(body), Some("Mozilla/5.0 (X11; Linux x86_64)"));
        assert!(!h.sqli && !h.code() && !h.scanner_agent, "{h:?}");
    }

    #[test]
    fn scanners_and_fuzzers() {
        assert!(
            scan(Some("/"), None, Some("Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)")).scanner_agent
        );
        assert!(scan(Some("/x"), None, Some("Fuzz Faster U Fool v2.0.0")).fuzzer_agent);
        assert!(q("/.git/config").vuln_path);
        assert!(q("/phpmyadmin/").vuln_path);
        assert!(q("/backup.sql").vuln_path);
        assert!(!q("/api/v1/orders/17").vuln_path);
    }

    /// The one-pass set names the same classes as a set per class would, on the texts above
    /// and on mixtures of their pieces.
    #[test]
    fn one_set_matches_as_a_set_per_class() {
        let per_class: Vec<RegexSet> = CLASSES.iter().map(|p| set(p)).collect();
        let pieces = [
            "lamp' OR 1=1--", "1 UNION ALL SELECT NULL", "<script>alert(1)</script>", ";cat /etc/passwd", "$(whoami)",
            "../../etc/passwd", "{{7*7}}", "${jndi:ldap://x/a}", "oak table", "o'neil", "select from our range", "AND SLEEP(5)",
            "<img src=x onerror=alert(1)>", "ring bell; leave at door", "#{x}", "<%= 7 %>", "c:\\windows\\", "`id`", "é…",
        ];
        let mut texts: Vec<String> = pieces.iter().map(|p| p.to_string()).collect();
        for (i, a) in pieces.iter().enumerate() {
            for b in &pieces[i..] {
                texts.push(format!("{a} {b}"));
                texts.push(format!("{{\"q\":\"{b}\",\"n\":{i},\"r\":\"{a}\"}}"));
            }
        }
        let c = compiled();
        let mut seen = [false; 6];
        for t in &texts {
            let want: Vec<bool> = per_class.iter().map(|s| s.is_match(t)).collect();
            let got = classes(c, t);
            assert_eq!(got.to_vec(), want, "{t}");
            for (s, g) in seen.iter_mut().zip(got) {
                *s |= g;
            }
        }
        assert_eq!(seen, [true; 6], "every class is exercised");
    }

    /// `+` replaced in the bytes reads as the character-wise replacement after lossy
    /// decoding did, invalid UTF-8 around it included.
    #[test]
    fn plus_as_space_in_bytes_equals_by_characters() {
        let alphabet: &[&[u8]] = &[b"+", b"a", b"%2B", b"%25", b"%C3%A9", b"\xc3", b"\xa9", b"\xff", "é".as_bytes(), b"/*x*/", b" "];
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut text = Vec::new();
            for _ in 0..(x % 12) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                text.extend_from_slice(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let once = percent_encoding::percent_decode(&text).collect::<Vec<u8>>();
            let twice: Vec<u8> = if once.contains(&b'%') { percent_encoding::percent_decode(&once).collect() } else { once };
            let by_chars: String = String::from_utf8_lossy(&twice).chars().map(|c| if c == '+' { ' ' } else { c }).collect();
            let want = if by_chars.contains("/*") { compiled().sql_comment.replace_all(&by_chars, " ").into_owned() } else { by_chars };
            assert_eq!(decode(&text), want, "{text:?}");
        }
    }

    #[test]
    fn hostile_input_is_bounded_and_total() {
        let long = "a%".repeat(100_000);
        let _ = scan(Some(&long), Some(&[0xff; 20_000]), Some(&"é".repeat(10_000)));
    }
}
