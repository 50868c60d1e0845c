//! Admin API request bodies: JSON, `application/x-www-form-urlencoded` and
//! `multipart/form-data` (§3.5 of the Kong reference).
//!
//! Form and multipart keys nest the way Kong's argument decoder does:
//! `config.access=…` (dots), `paths[]=/a` (append), `config.access[1]=…`
//! (position), `headers.x-foo=bar` or `headers[x-foo]=bar` (map keys), and a
//! repeated key makes an array. Values stay strings here; they are typed
//! against the entity's schema afterwards. Nothing is split on commas.
//!
//! Keys nest at most [`MAX_KEY_DEPTH`] levels: the tree is built and turned
//! into JSON recursively, and a key like `name[a][a]…` thousands deep in
//! an 8 KiB body must be a 400, not a stack overflow of the admin thread.
//! JSON bodies rely on serde_json's own limit (128 levels, "Cannot parse
//! JSON body"); nothing enables its `unbounded_depth` feature.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::errors::AdminError;

/// Deepest nesting a form or multipart key may have: `a` is 1,
/// `config.access[1]` is 3. Kong's own keys need at most 4.
pub const MAX_KEY_DEPTH: usize = 32;

/// Most key/value pairs in one form or multipart body (Kong's limit).
const MAX_ARGUMENTS: usize = 1000;

/// How the body was encoded, which decides whether values need typing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
}

/// Decodes a body according to its Content-Type. An empty body is an empty
/// object, whatever the type.
pub async fn decode(
    content_type: Option<&str>,
    body: Bytes,
) -> Result<(Map<String, Value>, Encoding), AdminError> {
    let mime = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    // Kong's answers for empty bodies: JSON must parse ("Cannot parse
    // JSON body"); a form, a multipart form (boundary or not) or no
    // Content-Type at all is an empty object, checked as one.
    let empty = body.iter().all(u8::is_ascii_whitespace);
    if empty && mime != "application/json" {
        return Ok((Map::new(), Encoding::Form));
    }
    match mime.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => Ok((m, Encoding::Json)),
            _ => Err(AdminError::bad_request("Cannot parse JSON body")),
        },
        "application/x-www-form-urlencoded" => Ok((
            nest(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())))?,
            Encoding::Form,
        )),
        "multipart/form-data" => {
            let boundary = content_type
                .and_then(|ct| multer::parse_boundary(ct).ok())
                .ok_or_else(|| AdminError::bad_request("multipart body without a boundary"))?;
            // A form with no fields is nothing, or only the closing
            // delimiter, which multer refuses: it is an empty body.
            let bare = body.trim_ascii();
            if bare.is_empty() || bare == format!("--{boundary}--").as_bytes() {
                return Ok((Map::new(), Encoding::Form));
            }
            let stream =
                futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
            let mut multipart = multer::Multipart::new(stream, boundary);
            let mut pairs = Vec::new();
            loop {
                let field = match multipart.next_field().await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        return Err(AdminError::bad_request(format!(
                            "Cannot parse multipart body: {e}"
                        )))
                    }
                };
                let Some(name) = field.name().map(str::to_string) else {
                    continue;
                };
                if pairs.len() == MAX_ARGUMENTS {
                    return Err(too_many_arguments());
                }
                let text = field.text().await.map_err(|e| {
                    AdminError::bad_request(format!("Cannot parse multipart body: {e}"))
                })?;
                pairs.push((name, text));
            }
            Ok((nest(pairs.into_iter())?, Encoding::Form))
        }
        _ => Err(AdminError::Message(
            hyper::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Content-Type".into(),
        )),
    }
}

/// One step of a decoded key.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    /// `[]`: append.
    Push,
    /// `[n]`: a position.
    Index(usize),
}

fn too_many_arguments() -> AdminError {
    AdminError::bad_request("Too many arguments")
}

/// The 400 for a key nested deeper than [`MAX_KEY_DEPTH`]; the key is
/// shortened in the message.
fn too_deep(key: &str) -> AdminError {
    let shown: String = key.chars().take(40).collect();
    let more = if shown.len() < key.len() { "…" } else { "" };
    AdminError::bad_request(format!(
        "Cannot parse form body: key '{shown}{more}' nests deeper than {MAX_KEY_DEPTH} levels"
    ))
}

fn parse_key(key: &str) -> Result<Vec<Step>, AdminError> {
    let mut steps = Vec::new();
    for part in key.split('.') {
        if steps.len() >= MAX_KEY_DEPTH {
            return Err(too_deep(key));
        }
        let (head, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        steps.push(Step::Key(head.to_string()));
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else {
                // Unbalanced bracket: keep the text as part of the key.
                if let Some(Step::Key(k)) = steps.last_mut() {
                    k.push_str(rest);
                }
                break;
            };
            if steps.len() >= MAX_KEY_DEPTH {
                return Err(too_deep(key));
            }
            let idx = &inner[..end];
            steps.push(if idx.is_empty() {
                Step::Push
            } else if let Ok(n) = idx.parse::<usize>() {
                Step::Index(n)
            } else {
                Step::Key(idx.to_string())
            });
            rest = &inner[end + 1..];
        }
    }
    Ok(steps)
}

/// Intermediate tree in which positioned array items keep their index until
/// the end, so `a[2]=x&a[1]=y` comes out in order. Its depth is bounded by
/// [`MAX_KEY_DEPTH`], and so is the recursion of `insert` and `finish`.
#[derive(Debug)]
enum Node {
    Leaf(String),
    Map(Vec<(String, Node)>),
    List(Vec<(Option<usize>, Node)>),
}

fn nest(pairs: impl Iterator<Item = (String, String)>) -> Result<Map<String, Value>, AdminError> {
    let mut root = Node::Map(Vec::new());
    for (count, (key, value)) in pairs.enumerate() {
        if count == MAX_ARGUMENTS {
            return Err(too_many_arguments());
        }
        insert(&mut root, &parse_key(&key)?, value);
    }
    match finish(root) {
        Value::Object(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

fn insert(node: &mut Node, steps: &[Step], value: String) {
    let Some((step, rest)) = steps.split_first() else {
        // A repeated key: the value joins the earlier ones as an array.
        match node {
            Node::List(items) => items.push((None, Node::Leaf(value))),
            Node::Leaf(_) => {
                let old = std::mem::replace(node, Node::List(Vec::new()));
                if let Node::List(items) = node {
                    items.push((None, old));
                    items.push((None, Node::Leaf(value)));
                }
            }
            Node::Map(_) => {}
        }
        return;
    };
    match step {
        Step::Key(k) => {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Vec::new());
            }
            let Node::Map(entries) = node else { return };
            match entries.iter_mut().find(|(name, _)| name == k) {
                Some((_, child)) => insert(child, rest, value),
                None => {
                    let mut child = empty_for(rest);
                    insert_new(&mut child, rest, value);
                    entries.push((k.clone(), child));
                }
            }
        }
        Step::Push | Step::Index(_) => {
            if let Node::Leaf(_) = node {
                let old = std::mem::replace(node, Node::List(Vec::new()));
                if let Node::List(items) = node {
                    items.push((None, old));
                }
            }
            if !matches!(node, Node::List(_)) {
                *node = Node::List(Vec::new());
            }
            let Node::List(items) = node else { return };
            let index = match step {
                Step::Index(n) => Some(*n),
                _ => None,
            };
            if let (Some(n), false) = (index, rest.is_empty()) {
                if let Some((_, child)) = items.iter_mut().find(|(i, _)| *i == Some(n)) {
                    insert(child, rest, value);
                    return;
                }
            }
            let mut child = empty_for(rest);
            insert_new(&mut child, rest, value);
            items.push((index, child));
        }
    }
}

fn empty_for(rest: &[Step]) -> Node {
    match rest.first() {
        None => Node::Leaf(String::new()),
        Some(Step::Key(_)) => Node::Map(Vec::new()),
        Some(_) => Node::List(Vec::new()),
    }
}

fn insert_new(node: &mut Node, rest: &[Step], value: String) {
    if rest.is_empty() {
        *node = Node::Leaf(value);
    } else {
        insert(node, rest, value);
    }
}

fn finish(node: Node) -> Value {
    match node {
        Node::Leaf(s) => Value::String(s),
        Node::Map(entries) => {
            Value::Object(entries.into_iter().map(|(k, v)| (k, finish(v))).collect())
        }
        Node::List(mut items) => {
            // Positioned items sort by position; appended ones keep their order after them.
            items.sort_by_key(|(i, _)| i.unwrap_or(usize::MAX));
            Value::Array(items.into_iter().map(|(_, v)| finish(v)).collect())
        }
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn try_form(s: &str) -> Result<Value, AdminError> {
        nest(form_urlencoded::parse(s.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())))
            .map(Value::Object)
    }

    fn form(s: &str) -> Value {
        try_form(s).unwrap()
    }

    #[test]
    fn key_nesting_is_bounded() {
        let key = |depth: usize| format!("a{}", "[b]".repeat(depth - 1));
        let deepest = form(&format!("{}=1", key(MAX_KEY_DEPTH)));
        let mut v = &deepest["a"];
        for _ in 1..MAX_KEY_DEPTH {
            v = &v["b"];
        }
        assert_eq!(v, "1");
        for depth in [MAX_KEY_DEPTH + 1, 3000] {
            let err = try_form(&format!("{}=1", key(depth))).unwrap_err();
            let (status, body) = err.status_and_body();
            assert_eq!(status, 400);
            assert!(body["message"]
                .as_str()
                .unwrap()
                .contains("nests deeper than 32"));
        }
        let dotted = format!("a{}=1", ".b".repeat(100_000));
        assert!(try_form(&dotted).is_err(), "dots count as levels too");
    }

    #[test]
    fn kong_form_keys_nest() {
        assert_eq!(
            form("name=x&paths[]=/a&paths[]=/b"),
            json!({"name": "x", "paths": ["/a", "/b"]})
        );
        assert_eq!(form("hosts=a&hosts=b"), json!({"hosts": ["a", "b"]}));
        assert_eq!(
            form("config.access[2]=two&config.access[1]=one&service.id=abc"),
            json!({"config": {"access": ["one", "two"]}, "service": {"id": "abc"}})
        );
        assert_eq!(
            form("headers.x-foo=bar&headers[x-baz]=q"),
            json!({"headers": {"x-foo": "bar", "x-baz": "q"}})
        );
        assert_eq!(
            form("paths=/a,/b"),
            json!({"paths": "/a,/b"}),
            "no comma splitting"
        );
        assert_eq!(
            form("config.functions[]=return 1"),
            json!({"config": {"functions": ["return 1"]}})
        );
    }
}
