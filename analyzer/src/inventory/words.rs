//! Words that name things in API paths rather than being values: resource collections,
//! actions and well-known singletons. A segment in this list stays a literal even at a
//! position that otherwise holds values (`/users/me` beside `/users/{id}`).
//!
//! Collected from the path vocabulary of public API descriptions (REST resource and action
//! names); it is a prior, not a rule: the tree still decides by what it sees.

/// Words that select one item of a collection by role rather than by identifier: the
/// path below them mirrors the one below an identifier (`/users/me/repos` beside
/// `/users/{id}/repos`), so only these stay literal when followed the way values are.
const SELECTORS: &[&str] = &[
    "me", "self", "my", "mine", "current", "latest", "recent", "new", "all", "any", "default", "public", "private", "shared",
    "popular", "trending", "featured", "top", "next", "previous", "first", "last", "random", "primary", "active", "inactive",
    "pending", "archived", "deleted", "trash", "trashed", "draft", "drafts", "published", "global", "local", "root", "home", "index",
];

const WORDS: &[&str] = &[
    // Actions.
    "login", "logout", "signin", "signout", "signup", "register", "unregister", "auth", "authorize", "authenticate", "oauth",
    "token", "tokens", "refresh", "revoke", "introspect", "verify", "verification", "validate", "validation", "confirm",
    "confirmation", "reset", "activate", "deactivate", "enable", "disable", "approve", "reject", "cancel", "close", "open",
    "reopen", "lock", "unlock", "block", "unblock", "follow", "unfollow", "like", "unlike", "star", "unstar", "watch",
    "unwatch", "subscribe", "unsubscribe", "mute", "unmute", "pin", "unpin", "archive", "unarchive", "restore", "merge",
    "fork", "transfer", "invite", "accept", "decline", "join", "leave", "search", "find", "lookup", "query", "filter",
    "count", "export", "import", "upload", "download", "sync", "batch", "bulk", "send", "resend", "retry", "run", "execute",
    "start", "stop", "pause", "resume", "schedule", "preview", "render", "generate", "calculate", "estimate", "check",
    "test", "ping", "echo", "submit", "publish", "unpublish", "share", "copy", "move", "rename", "duplicate", "clone",
    "terminate", "suspend", "unsuspend", "expire", "invalidate", "purge", "recover", "rollback", "deploy", "rebuild", "reindex", "compare", "convert", "translate", "capture", "refund", "charge", "pay",
    "checkout", "apply", "redeem", "claim", "report", "flag", "assign", "unassign", "link", "unlink", "attach", "detach",
    "add", "remove", "create", "update", "delete", "edit", "list", "get", "set", "read", "write", "clear", "mark", "forgot",
    "change", "password", "passwords", "mfa", "otp", "totp", "sso", "saml", "oidc", "callback", "webhook", "webhooks",
    "authorize", "consent", "logout",
    // Service plumbing.
    "api", "apis", "rest", "graphql", "rpc", "health", "healthz", "healthcheck", "ready", "readyz", "live", "livez",
    "status", "statuses", "metrics", "stats", "statistics", "summary", "info", "version", "versions", "config",
    "configuration", "settings", "preferences", "options", "features", "flags", "limits", "quota", "quotas", "usage",
    "billing", "admin", "internal", "debug", "docs", "swagger", "openapi", "schema", "schemas", "spec", "meta",
    "metadata", "manifest", "well-known", "static", "assets", "public", "media", "images", "avatar", "avatars",
    "thumbnail", "thumbnails", "icons", "fonts", "css", "js",
    // Collections.
    "users", "user", "accounts", "account", "profiles", "profile", "members", "member", "groups", "group", "teams", "team",
    "orgs", "org", "organizations", "organization", "projects", "project", "repos", "repo", "repositories", "repository",
    "issues", "issue", "pulls", "pull", "comments", "comment", "reviews", "review", "releases", "release", "tags", "tag",
    "branches", "branch", "commits", "commit", "files", "file", "contents", "content", "items", "item", "orders", "order",
    "products", "product", "carts", "cart", "payments", "payment", "invoices", "invoice", "subscriptions", "subscription",
    "customers", "customer", "transactions", "transaction", "transfers", "balances", "balance", "charges", "refunds",
    "prices", "price", "plans", "plan", "coupons", "coupon", "discounts", "sessions", "session", "events", "event",
    "notifications", "notification", "messages", "message", "conversations", "channels", "channel", "threads", "thread",
    "posts", "post", "articles", "article", "pages", "page", "categories", "category", "collections", "collection",
    "followers", "following", "friends", "likes", "favorites", "bookmarks", "stars", "watchers", "subscribers",
    "permissions", "permission", "roles", "role", "policies", "policy", "keys", "key", "secrets", "secret", "credentials",
    "certificates", "domains", "domain", "records", "hooks", "jobs", "job", "tasks", "task", "workflows", "workflow",
    "runs", "builds", "build", "deployments", "deployment", "environments", "environment", "pipelines", "artifacts",
    "logs", "log", "audit", "history", "activity", "activities", "feed", "feeds", "timeline", "stream", "streams",
    "devices", "device", "locations", "location", "addresses", "address", "contacts", "contact", "companies", "company",
    "stores", "store", "inventory", "shipments", "shipping", "deliveries", "tickets", "ticket", "reports", "analytics",
    "dashboards", "dashboard", "alerts", "alert", "rules", "rule", "templates", "template", "documents", "document",
    "attachments", "attachment", "photos", "photo", "videos", "video", "albums", "playlists", "tracks", "artists",
    "books", "authors", "movies", "pets", "pet", "animals", "vehicles", "bookings", "booking", "reservations",
    "appointments", "calendars", "calendar", "schedules", "tenants", "tenant", "workspaces", "workspace", "spaces",
    "apps", "app", "applications", "application", "clients", "client", "services", "service", "resources", "resource",
    "nodes", "node", "clusters", "cluster", "namespaces", "namespace", "pods", "containers", "images", "volumes",
    "networks", "instances", "instance", "sizes", "size", "tiers", "tier", "regions", "region", "zones", "zone", "buckets", "bucket", "objects", "object", "tables", "table",
    "databases", "database", "queues", "topics", "subscriptions", "labels", "label", "milestones", "gists", "wikis",
    "emails", "email", "phones", "phone", "verifications", "invitations", "invites", "requests", "responses", "answers",
    "questions", "votes", "polls", "surveys", "forms", "fields", "values", "entries", "entry", "lists", "sets", "types",
    "kinds", "models", "versions", "revisions", "changes", "diffs", "patches", "snapshots", "backups", "exports",
    "imports", "uploads", "downloads", "migrations", "integrations", "connections", "providers", "sources", "destinations",
    "targets", "endpoints", "routes", "paths", "links", "urls", "redirects", "countries", "currencies", "languages",
    "locales", "timezones", "units", "stock", "inventories", "warehouses", "suppliers", "vendors", "partners",
    "affiliates", "referrals", "rewards", "points", "wallets", "wallet", "cards", "card", "banks", "loans", "quotes",
    "claims", "policies", "agents", "tickets", "incidents", "problems", "assets", "licenses", "contracts", "agreements",
    "signatures", "approvals", "reviewers", "assignees", "collaborators", "owners", "admins", "moderators",
    "ssh", "gpg", "scanning", "traffic", "clones", "views", "runners", "variables", "forks", "contributors",
    "stargazers", "readme", "license", "actions", "action", "stats", "usage", "codes", "code", "id", "ids", "by",
    "name", "names", "info", "details", "detail", "data", "bulk", "async", "v", "api", "access", "private", "public",
    "number", "numbers",
];

/// How a segment reads against the API path vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    /// One word of the vocabulary, or an action name (`login`, `findByStatus`).
    Single,
    /// Words of the vocabulary joined (`public-key`, `gpg_keys`, `PhoneNumbers`): path words
    /// often, but project and repository names are made the same way.
    Compound,
}

pub fn api_word(seg: &str) -> Option<Word> {
    let lower = seg.to_ascii_lowercase();
    let plain = lower.trim_start_matches(['_', '$', '@', '.']);
    if WORDS.contains(&plain) || SELECTORS.contains(&plain) || verb_phrase(seg) {
        return Some(Word::Single);
    }
    let parts = split_words(seg.trim_start_matches(['_', '$', '@', '.']));
    (parts.len() > 1 && parts.len() <= 4 && parts.iter().all(|p| WORDS.contains(&p.as_str()))).then_some(Word::Compound)
}

/// Whether `seg` (any case) selects an item by role: `me`, `current`, `latest`, `trash`.
pub fn is_selector(seg: &str) -> bool {
    SELECTORS.contains(&seg.to_ascii_lowercase().as_str())
}

/// Whether `seg` (any case) is a word of the API path vocabulary, or a compound of them.
pub fn is_api_word(seg: &str) -> bool {
    api_word(seg).is_some()
}

/// Whether a literal segment names a collection (a plural noun: `users`, `branches`,
/// `Accounts`), after which REST paths usually put an item's identifier.
pub fn is_collection(seg: &str) -> bool {
    let l = seg.to_ascii_lowercase();
    let last = split_words(&l).pop().unwrap_or_default();
    last.len() > 3
        && last.ends_with('s')
        && !last.ends_with("ss")
        && !last.ends_with("us")
        && !last.ends_with("is")
        && !matches!(last.as_str(), "settings" | "status" | "stats" | "analytics" | "metrics" | "news" | "actions" | "options" | "permissions" | "preferences" | "features" | "limits" | "docs" | "assets" | "contents" | "details")
}

/// The words of a kebab, snake or camel case name, lower-cased.
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c == '-' || c == '_' || c == '.' {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// camelCase or snake_case action names: `findByStatus`, `get_user_info`, `uploadImage`.
fn verb_phrase(seg: &str) -> bool {
    const VERBS: &[&str] = &[
        "find", "get", "list", "search", "create", "update", "delete", "remove", "add", "set", "upload", "download",
        "check", "validate", "verify", "send", "reset", "change", "generate", "export", "import", "fetch", "query",
        "count", "batch", "bulk", "mark", "sync", "refresh",
    ];
    let b = seg.as_bytes();
    if b.len() < 5 || b.iter().any(u8::is_ascii_digit) {
        return false;
    }
    VERBS.iter().any(|v| {
        seg.len() > v.len()
            && seg[..v.len()].eq_ignore_ascii_case(v)
            && matches!(b[v.len()], b'A'..=b'Z' | b'_' | b'-')
            // What follows the verb names something in the vocabulary (`ByStatus`,
            // `user_info`), not any word (`mark_hill` is a name).
            && split_words(&seg[v.len()..]).iter().any(|w| WORDS.contains(&w.as_str()) || WORDS.contains(&format!("{w}s").as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections() {
        for w in ["users", "branches", "Accounts", "gpg_keys", "PhoneNumbers"] {
            assert!(is_collection(w), "{w}");
        }
        for w in ["user", "status", "settings", "v1", "actions", "sms", "news"] {
            assert!(!is_collection(w), "{w}");
        }
        assert_eq!(api_word("login"), Some(Word::Single));
        assert_eq!(api_word("public-key"), Some(Word::Compound));
        assert_eq!(api_word("crimson-falcon"), None);
    }

    #[test]
    fn words() {
        for w in ["me", "login", "Search", "findByStatus", "get_user_info", "_search", "users", "well-known", "public-key", "gpg_keys", "PhoneNumbers"] {
            assert!(is_api_word(w), "{w}");
        }
        for w in ["alice", "octocat", "hello-world", "finder", "getaway", "find2", "crimson-falcon", "secret-agent-man-x-y", "mark_hill"] {
            assert!(!is_api_word(w), "{w}");
        }
    }
}
