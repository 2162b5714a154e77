//! Naming the attack from the features that deviate. Classes come in groups (payload
//! and tool signatures, credentials, data and resources, generic); the first group with a
//! match names the detection, and within it the class whose defining features deviate
//! most (the most matching requests, for payloads).
//! Which features deviate is learned
//! (see [`super::baseline`]); this module only says which combination means which class,
//! and writes the sentence an analyst reads.
//!
//! | class | deviating features |
//! |---|---|
//! | vulnerability_scan | scanner_hits, or vuln_paths making a good part of the calls |
//! | sql_injection | sqli_hits |
//! | code_injection | code_hits |
//! | credential_stuffing | login_failures, or login_users with a failure |
//! | account_takeover | new_origin (a credential or user from a new address and agent) |
//! | bola | owned_objects |
//! | data_exfiltration | resp_bytes with resp_ratio or array_ratio |
//! | oversized_payload | req_ratio with req_bytes_max |
//! | data_manipulation | destructive |
//! | data_scraping | shared_objects or pages |
//! | expensive_call_abuse | latency_sum with latency_ratio or latency_mean |
//! | slowloris | incomplete |
//! | probing_fuzzing | not_found or unknown_endpoints |
//! | targeted_ddos | an endpoint's calls with its clients or new clients (per endpoint) |
//! | extreme_client_activity | calls |
//! | sequence_anomaly | surprisal, over at least a few calls |

use super::alerts::{Attack, FeatureEvidence};
use super::features::{Row, F, NF};
use super::identity::IdentityKind;

/// Every class the deviations fit, the one that names the detection first. `z` holds each
/// feature's robust z score (0 where it did not deviate).
pub fn classify(kind: IdentityKind, dev: &[bool; NF], z: &[f64; NF], x: &[f64; NF], sequence_min_calls: f64) -> Vec<Attack> {
    let d = |f: F| dev[f as usize];
    let v = |f: F| x[f as usize];
    let mut out = Vec::new();
    let mut add = |on: bool, a: Attack| {
        if on {
            out.push(a);
        }
    };
    // Known-vulnerable paths make a scan when they are a good part of what was asked for;
    // a wordlist fuzzer touches a few of them among thousands of misses.
    let vuln_share = v(F::VulnPaths) * 4.0 >= v(F::NotFound).max(v(F::Calls) / 2.0);
    add(d(F::ScannerHits) || (d(F::VulnPaths) && vuln_share), Attack::VulnerabilityScan);
    add(d(F::SqliHits), Attack::SqlInjection);
    add(d(F::CodeHits), Attack::CodeInjection);
    add(d(F::LoginFailures) || (d(F::LoginUsers) && v(F::LoginFailures) >= 1.0), Attack::CredentialStuffing);
    add(kind != IdentityKind::Ip && d(F::NewOrigin), Attack::AccountTakeover);
    add(d(F::OwnedObjects), Attack::Bola);
    add(d(F::ReqRatio) && d(F::ReqBytesMax), Attack::OversizedPayload);
    add(d(F::RespBytes) && (d(F::RespRatio) || d(F::ArrayRatio)), Attack::DataExfiltration);
    add(d(F::Destructive), Attack::DataManipulation);
    add(d(F::SharedObjects) || d(F::Pages), Attack::DataScraping);
    add(d(F::LatencySum) && (d(F::LatencyRatio) || d(F::LatencyMean)), Attack::ExpensiveCallAbuse);
    add(d(F::Incomplete), Attack::Slowloris);
    add(d(F::NotFound) || d(F::UnknownEndpoints), Attack::ProbingFuzzing);
    add(d(F::Calls), Attack::ExtremeClientActivity);
    add(d(F::Surprisal) && v(F::Calls) >= sequence_min_calls, Attack::SequenceAnomaly);
    // Within a group, the class whose defining features deviate most; for the payload
    // classes, the one with the most matching requests.
    let strength = |a: Attack| -> f64 {
        match a {
            Attack::VulnerabilityScan if d(F::ScannerHits) => f64::INFINITY,
            Attack::VulnerabilityScan => v(F::VulnPaths),
            Attack::SqlInjection => v(F::SqliHits),
            Attack::CodeInjection => v(F::CodeHits),
            _ => primary(a)
                .iter()
                .filter_map(|n| super::features::FEATURES.iter().position(|f| f.name == *n))
                .map(|i| z[i])
                .fold(0.0, f64::max),
        }
    };
    out.sort_by(|a, b| a.group().cmp(&b.group()).then(strength(*b).total_cmp(&strength(*a))).then(a.priority().cmp(&b.priority())));
    out
}

/// The features that name `attack`, which lead its evidence.
pub fn primary(attack: Attack) -> &'static [&'static str] {
    match attack {
        Attack::SqlInjection => &["sqli_hits"],
        Attack::CodeInjection => &["code_hits"],
        Attack::VulnerabilityScan => &["scanner_hits", "vuln_paths"],
        Attack::CredentialStuffing => &["login_failures", "login_users"],
        Attack::AccountTakeover => &["new_origin"],
        Attack::Bola => &["owned_objects"],
        Attack::DataExfiltration => &["resp_bytes", "resp_ratio", "array_ratio"],
        Attack::OversizedPayload => &["req_bytes_max", "req_ratio"],
        Attack::DataManipulation => &["destructive"],
        Attack::DataScraping => &["shared_objects", "pages"],
        Attack::ExpensiveCallAbuse => &["latency_sum", "latency_mean", "latency_ratio"],
        Attack::Slowloris => &["incomplete"],
        Attack::ProbingFuzzing => &["not_found", "unknown_endpoints"],
        Attack::TargetedDdos => &["calls", "clients", "new_clients"],
        Attack::ExtremeClientActivity => &["calls"],
        Attack::SequenceAnomaly => &["surprisal"],
    }
}

/// Whether a row is an example of `attack` (for the alert's sample uids).
pub fn row_supports(attack: Attack, r: &Row) -> bool {
    match attack {
        Attack::SqlInjection => r.sqli,
        Attack::CodeInjection => r.code,
        Attack::VulnerabilityScan => r.scanner || r.vuln_path,
        Attack::CredentialStuffing => r.login_failed,
        Attack::AccountTakeover => r.new_origin,
        Attack::Bola => r.owned && r.object.is_some(),
        Attack::DataExfiltration => r.resp_ratio > 1.0,
        Attack::OversizedPayload => r.req_ratio > 1.0,
        Attack::DataManipulation => r.destructive,
        Attack::DataScraping => r.object.is_some() || r.page.is_some(),
        Attack::ExpensiveCallAbuse => r.latency_ratio > 1.0,
        Attack::Slowloris => r.incomplete,
        Attack::ProbingFuzzing => r.status == 404 || r.unknown_endpoint,
        _ => true,
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn bytes(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1} MB", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} KB", v / 1e3)
    } else {
        format!("{} B", v as u64)
    }
}

/// One plain sentence: who, what, how much, against what baseline.
pub fn summary(attack: Attack, actor: &str, ev: &[FeatureEvidence], window: &str) -> String {
    let lead = ev.first();
    let (value, median, p999) = lead.map_or((0.0, 0.0, 0.0), |e| (e.value, e.baseline_median, e.baseline_p999));
    let what = match attack {
        Attack::SqlInjection => format!("sent {} requests carrying SQL injection payloads", num(value)),
        Attack::CodeInjection => {
            format!("sent {} requests carrying code injection payloads (script, command, traversal, template or JNDI)", num(value))
        }
        Attack::VulnerabilityScan => match lead.map(|e| e.feature.as_str()) {
            Some("vuln_paths") => format!("asked for {} paths of known-vulnerable software or leaked files", num(value)),
            _ => format!("made {} requests with a vulnerability scanner's user agent", num(value)),
        },
        Attack::CredentialStuffing => match lead.map(|e| e.feature.as_str()) {
            Some("login_users") => format!("tried {} different user names at login", num(value)),
            _ => format!("failed {} logins", num(value)),
        },
        Attack::AccountTakeover => format!("used an established credential from a new address and user agent in {} calls", num(value)),
        Attack::Bola => format!("read {} distinct objects that each belong to a single user", num(value)),
        Attack::DataExfiltration => match lead.map(|e| e.feature.as_str()) {
            Some("resp_bytes") => format!("pulled {} of responses", bytes(value)),
            _ => format!("received responses {}× their endpoint's usual size", num(value)),
        },
        Attack::OversizedPayload => match lead.map(|e| e.feature.as_str()) {
            Some("req_bytes_max") => format!("sent a request body of {}", bytes(value)),
            _ => format!("sent request bodies {}× their endpoint's usual size", num(value)),
        },
        Attack::DataManipulation => format!("made {} DELETE/PUT/PATCH calls", num(value)),
        Attack::DataScraping => match lead.map(|e| e.feature.as_str()) {
            Some("pages") => format!("walked {} distinct pages and filters", num(value)),
            _ => format!("read {} distinct shared objects", num(value)),
        },
        Attack::ExpensiveCallAbuse => match lead.map(|e| e.feature.as_str()) {
            Some("latency_ratio") => format!("made calls {}× slower than their endpoint's usual", num(value)),
            Some("latency_mean") => format!("made calls taking {} ms each on average", num(value)),
            _ => format!("consumed {} s of server time", num(value / 1000.0)),
        },
        Attack::Slowloris => format!("left {} requests incomplete or unanswered", num(value)),
        Attack::ProbingFuzzing => match lead.map(|e| e.feature.as_str()) {
            Some("unknown_endpoints") => format!("called {} paths never seen before", num(value)),
            _ => format!("got {} not-found answers", num(value)),
        },
        Attack::TargetedDdos => format!("sent {} calls to {{endpoint}}", num(value)),
        Attack::ExtremeClientActivity => format!("made {} calls", num(value)),
        Attack::SequenceAnomaly => {
            format!("moved between endpoints in an order normal sessions do not (mean surprisal {} nats)", num(value))
        }
    };
    let base = match (attack, lead) {
        (Attack::DataExfiltration | Attack::OversizedPayload, Some(e))
            if e.feature.ends_with("bytes") || e.feature.ends_with("bytes_max") =>
        {
            format!("baseline median {}, 99.9th percentile {}", bytes(median), bytes(p999))
        }
        _ => format!("baseline median {}, 99.9th percentile {}", num(median), num(p999)),
    };
    let z = lead.map_or(0.0, |e| e.z);
    format!("{actor} {what} in {window} ({base}; z {}).", num((z * 10.0).round() / 10.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devs(list: &[F]) -> [bool; NF] {
        let mut d = [false; NF];
        for f in list {
            d[*f as usize] = true;
        }
        d
    }

    #[test]
    fn specific_classes_come_first() {
        let mut x = [0.0; NF];
        x[F::Calls as usize] = 500.0;
        x[F::LoginFailures as usize] = 40.0;
        let z = [10.0; NF];
        let c = classify(IdentityKind::Ip, &devs(&[F::Calls, F::LoginFailures]), &z, &x, 8.0);
        assert_eq!(c, [Attack::CredentialStuffing, Attack::ExtremeClientActivity]);
        assert!(classify(IdentityKind::Ip, &devs(&[F::NewOrigin]), &z, &x, 8.0).is_empty(), "takeover needs a credential or user");
        x[F::Calls as usize] = 3.0;
        assert!(classify(IdentityKind::Ip, &devs(&[F::Surprisal]), &z, &x, 8.0).is_empty(), "too few calls to judge a sequence");
    }

    #[test]
    fn within_a_group_the_strongest_evidence_names_it() {
        let mut x = [0.0; NF];
        x[F::Calls as usize] = 40.0;
        let mut z = [0.0; NF];
        z[F::RespBytes as usize] = 50.0;
        z[F::RespRatio as usize] = 12.0;
        z[F::LatencySum as usize] = 900.0;
        z[F::LatencyRatio as usize] = 30.0;
        let c = classify(IdentityKind::Ip, &devs(&[F::RespBytes, F::RespRatio, F::LatencySum, F::LatencyRatio]), &z, &x, 8.0);
        assert_eq!(c[0], Attack::ExpensiveCallAbuse);
        // More code-injection payloads than SQL ones: code injection.
        x[F::SqliHits as usize] = 12.0;
        x[F::CodeHits as usize] = 40.0;
        let c = classify(IdentityKind::Ip, &devs(&[F::SqliHits, F::CodeHits]), &z, &x, 8.0);
        assert_eq!(c, [Attack::CodeInjection, Attack::SqlInjection]);
    }

    #[test]
    fn summaries_say_why_with_numbers() {
        let ev = vec![FeatureEvidence {
            feature: "login_failures".into(),
            window: "1m".into(),
            value: 48.0,
            baseline_median: 0.0,
            baseline_p999: 2.0,
            z: 48.0,
        }];
        let s = summary(Attack::CredentialStuffing, "10.0.0.9", &ev, "1m");
        assert_eq!(s, "10.0.0.9 failed 48 logins in 1m (baseline median 0, 99.9th percentile 2; z 48).");
    }
}
