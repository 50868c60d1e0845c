//! `ngx.shared.kong` as OpenResty's `lua_shared_dict` behaves
//! (`src/pdk/shared.rs`), end to end: `flush_all` expires every entry
//! rather than deleting it, and the node's id does not depend on the
//! dict (`kong.node.get_id`).

mod common;

use common::pdk::{function_of, route_with, send, unsandboxed};
use serde_json::Value;
use std::sync::Arc;

/// OpenResty's `flush_all` marks every entry expired (the three least
/// recently used go at once, as nginx frees the oldest by force and two
/// more expired ones): `get` misses, `get_stale` answers with `stale`
/// true, `ttl` is nginx's `expires - now` from an expiry of 1 ms after
/// the epoch, `get_keys` lists none, `expire` revives an entry, each
/// `get` first drops up to two expired entries at the old end, and
/// `flush_expired` removes the rest. Kong's `kong:node_id` entry goes
/// like any other (Kong stores it with `safe_add`, which does not protect
/// it from eviction or `flush_all`); `kong.node.get_id` does not read it
/// back, as Kong's workers keep the id they read at start, and stays the
/// Admin API's `node_id`. Red before: `flush_all` deleted every entry
/// (`get_stale` answered nil, `expire` "not found").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_all_expires_entries_and_the_node_id_stays() {
    let (gw, _tmp) = unsandboxed();
    let gw = Arc::new(gw);
    let lua = r#"
local d = ngx.shared.kong
local out = {}
local function put(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  out[#out + 1] = table.concat(t, ",")
end
local id = kong.node.get_id()
put(d:get("kong:node_id") == id)
d:flush_all()
d:flush_expired()
for i = 1, 8 do d:set("k" .. i, "v" .. i, 0, i) end
d:flush_all()
put(d:get_stale("k3"))
put(d:get_stale("k8"))
put(d:get("k8"))
put(d:ttl("k7") < -1e9)
put(#d:get_keys(0))
put(d:expire("k8", 100))
put(d:get_stale("k6"))
put(d:get("k8"))
put(d:get_stale("k4"), d:get_stale("k5"), d:get_stale("k7"))
put(d:flush_expired())
put(table.concat(d:get_keys(0), " "))
put(d:get_stale("kong:node_id"), kong.node.get_id() == id)
ngx.print(table.concat(out, "\n"), "\n", id)
"#;
    let path = route_with(&gw, "access", &[function_of(lua)]).await;
    let resp = send(&gw, "GET", "test", &path, None).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = resp.text();
    let (lines, id) = text.rsplit_once('\n').expect("id");
    assert_eq!(
        lines,
        "true\n\
         nil\n\
         v8,8,true\n\
         nil\n\
         true\n\
         0\n\
         true\n\
         v6,6,true\n\
         v8,8\n\
         nil,nil,nil\n\
         1\n\
         k8\n\
         nil,true"
    );
    let admin: Value = common::client()
        .get(gw.admin_url("/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(admin["node_id"], id);
}
