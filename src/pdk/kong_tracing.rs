//! `kong.tracing`: Kong's tracing PDK (`kong/pdk/tracing.lua`) as far as a
//! function can use it. `kong.tracing` is Kong's default, the no-op
//! tracer (its spans record nothing, `active_span()` is nil);
//! `kong.tracing.new(name, options)` or `kong.tracing(name)` makes a
//! tracer whose spans (ids, times, attributes, events, parent and
//! `tracer`) live in the request's `ngx.ctx` as in Kong: the active span
//! under `<namespace>_active_span`, the spans under `<namespace>_SPANS`,
//! so a span started by one function is the active span another reads
//! later in the request. Exporting spans (Kong's OpenTelemetry plugin) is
//! not part of this.
//!
//! A tracer is a small glue chunk run per `new` (its tables are the
//! function's own: nothing one function changes reaches another).

use lua_stdlib::{Callback, CallbackReturn, Context, Table, Value};

use super::glue::{self, Glue};

/// Kong's `new_tracer` (its sampler at rate 1.0 samples every trace).
static NEW_TRACER: Glue = Glue::new(
    "=kong.tracing.new",
    r#"local name, options = ...
name = name or "default"
local namespace = options and options.namespace or "KONG"
options = options or {}
if options.noop then
  return noop_tracer()
end

local VALID_PHASES = {
  certificate = true, rewrite = true, access = true,
  header_filter = true, body_filter = true, log = true,
}
local function NOOP() end

local function validate_span_options(options)
  if options ~= nil then
    if type(options) ~= "table" then error("invalid options type", 3) end
    if options.start_time_ns ~= nil and type(options.start_time_ns) ~= "number" then
      error("invalid start time", 3)
    end
    if options.span_kind ~= nil and type(options.span_kind) ~= "number" then
      error("invalid start kind", 3)
    end
    if options.should_sample ~= nil and type(options.should_sample) ~= "boolean" then
      error("invalid sampled", 3)
    end
    if options.attributes ~= nil and type(options.attributes) ~= "table" then
      error("invalid attributes", 3)
    end
  end
end

local span_mt = {}
span_mt.__index = span_mt

function span_mt:finish(end_time_ns)
  if self.end_time_ns ~= nil then return end
  if end_time_ns ~= nil and type(end_time_ns) ~= "number" then
    error("invalid span end time", 2)
  end
  if end_time_ns and end_time_ns < self.start_time_ns then
    return
  end
  self.end_time_ns = end_time_ns or now_ns()
  if self.active and self.tracer.active_span() == self then
    self.tracer.set_active_span(self.parent)
    self.active = nil
  end
end

function span_mt:set_attribute(key, value)
  if type(key) ~= "string" then error("invalid key", 2) end
  if self.attributes == nil then self.attributes = {} end
  self.attributes[key] = value
end

function span_mt:add_event(name, attributes, time_ns)
  if type(name) ~= "string" then error("invalid name", 2) end
  if attributes ~= nil and type(attributes) ~= "table" then
    error("invalid attribute", 2)
  end
  if self.events == nil then self.events = { [0] = 0 } end
  local obj = { name = name, time_ns = time_ns or now_ns(), attributes = attributes }
  local len = self.events[0] + 1
  self.events[len] = obj
  self.events[0] = len
end

function span_mt:record_error(err)
  if type(err) ~= "string" then err = tostring(err) end
  self:add_event("exception", { ["exception.message"] = err })
end

function span_mt:set_status(status)
  if type(status) ~= "number" then error("invalid status", 2) end
  self.status = status
end

function span_mt:release() end
function span_mt:each_baggage_item() return NOOP end

local self = { name = name }
local active_key = namespace .. "_active_span"
local spans_key = namespace .. "_SPANS"
self.active_span_key = active_key
self.spans_table_key = spans_key

local function create_span(tracer, options)
  validate_span_options(options)
  options = options or {}
  local span = {}
  span.parent = options.parent or tracer and tracer.active_span()
  local trace_id = span.parent and span.parent.trace_id or options.trace_id or random_id(16)
  local sampled
  if span.parent and span.parent.should_sample ~= nil then
    sampled = span.parent.should_sample
  elseif options.should_sample ~= nil then
    sampled = options.should_sample
  else
    sampled = tracer ~= nil
  end
  span.parent_id = span.parent and span.parent.span_id or options.parent_id
  span.tracer = span.tracer or tracer
  span.span_id = random_id(8)
  span.trace_id = trace_id
  span.kind = options.span_kind or 1
  span.should_sample = sampled
  return setmetatable(span, span_mt)
end

local function link_span(tracer, span, name, options)
  if tracer and type(tracer) ~= "table" then error("invalid tracer", 2) end
  validate_span_options(options)
  options = options or {}
  span.tracer = span.tracer or tracer
  span.start_time_ns = options.start_time_ns or now_ns()
  span.attributes = options.attributes
  span.name = name
  span.linked = true
  local spans = tracer.get_spans()
  local len = spans[0] + 1
  spans[len] = span
  spans[0] = len
  return span
end

function self.active_span()
  if not VALID_PHASES[get_phase()] then return end
  return ngx.ctx[active_key]
end

function self.set_active_span(span)
  if not VALID_PHASES[get_phase()] then return end
  if span then span.active = true end
  ngx.ctx[active_key] = span
end

function self.start_span(name, options)
  if not VALID_PHASES[get_phase()] then return noop_span() end
  if type(name) ~= "string" or #name == 0 then error("invalid span name", 2) end
  local span = create_span(self, options)
  link_span(self, span, name, options)
  return span
end

function self.create_span(...) return create_span(...) end
function self.link_span(...) return link_span(...) end

function self.init_spans()
  local spans = { [0] = 0 }
  ngx.ctx[spans_key] = spans
  return spans
end

function self.get_spans()
  return ngx.ctx[spans_key] or self.init_spans()
end

function self.get_root_span()
  return self.get_spans()[1]
end

function self.process_span(processor, ...)
  if get_phase() ~= "log" then
    error("function cannot be called in " .. get_phase() .. " phase (only in: log)", 2)
  end
  if type(processor) ~= "function" then error("processor must be a function", 2) end
  for _, span in ipairs(self.get_spans()) do
    if span.tracer and span.tracer.name == self.name then
      processor(span, ...)
    end
  end
end

function self:set_should_sample(should_sample)
  for _, span in ipairs(self.get_spans()) do
    if span.is_recording ~= false then span.should_sample = should_sample end
  end
end

self.new = new_tracer
return setmetatable(self, { __call = call_new })
"#,
);

/// Kong's `noop_span`: a span that records nothing.
static NOOP_SPAN: Glue = Glue::new(
    "=kong.tracing.noop_span",
    r#"local function NOOP() end
return setmetatable({
  is_recording = false,
  finish = NOOP,
  set_attribute = NOOP,
  add_event = NOOP,
  record_error = NOOP,
  set_status = NOOP,
  each_baggage_item = function() return NOOP end,
}, { __newindex = NOOP })
"#,
);

/// `tracer(name, options)`: a new tracer.
static CALL_NEW: Glue = Glue::new(
    "=kong.tracing.__call",
    r#"local _, name, options = ...
return new_tracer(name, options)
"#,
);

fn noop<'gc>(ctx: Context<'gc>) -> Callback<'gc> {
    Callback::from_fn(&ctx, |_, _, mut stack| {
        stack.clear();
        Ok(CallbackReturn::Return)
    })
}

/// Builds `kong.tracing`, Kong's no-op tracer (`globals`: the worker's,
/// with `ngx`).
pub fn install<'gc>(ctx: Context<'gc>, globals: Table<'gc>, kong: Table<'gc>) {
    let env = glue::private_env(ctx, globals);
    for name in ["setmetatable", "ipairs"] {
        let _ = env.set(ctx, name, globals.get(ctx, name));
    }
    if let Value::Table(ngx) = globals.get(ctx, "ngx") {
        let _ = env.set(ctx, "ngx", ngx);
        let _ = env.set(ctx, "get_phase", ngx.get(ctx, "get_phase"));
    }
    let _ = env.set(
        ctx,
        "random_id",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let n = match stack.get(0) {
                Value::Integer(n) => n.clamp(0, 16) as usize,
                _ => 16,
            };
            let id = uuid::Uuid::new_v4();
            stack.replace(ctx, ctx.intern(&id.as_bytes()[..n]));
            Ok(CallbackReturn::Return)
        }),
    );
    let _ = env.set(
        ctx,
        "now_ns",
        Callback::from_fn(&ctx, |ctx, _, mut stack| {
            let ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            stack.replace(ctx, ns);
            Ok(CallbackReturn::Return)
        }),
    );
    let noop_span = NOOP_SPAN.load(ctx, env);
    let new_tracer = NEW_TRACER.load(ctx, env);
    let call_new = CALL_NEW.load(ctx, env);
    let _ = env.set(ctx, "noop_span", noop_span);
    let _ = env.set(ctx, "new_tracer", new_tracer);
    let _ = env.set(ctx, "call_new", call_new);

    let t = ctx.new_table();
    let _ = t.set(ctx, "name", "noop");
    let _ = t.set(ctx, "spans_table_key", "noop");
    let _ = t.set(ctx, "start_span", noop_span);
    let _ = t.set(ctx, "create_span", noop_span);
    for name in [
        "get_spans",
        "get_root_span",
        "init_spans",
        "link_span",
        "active_span",
        "set_active_span",
        "process_span",
        "set_should_sample",
        "get_sampling_decision",
    ] {
        let _ = t.set(ctx, name, noop(ctx));
    }
    let _ = t.set(ctx, "new", new_tracer);
    let mt = ctx.new_table();
    let _ = mt.set(ctx, "__call", call_new);
    let _ = mt.set(ctx, "__newindex", noop(ctx));
    let _ = t.set_metatable(&ctx, Some(mt));
    // `noop_tracer()` for `new(name, { noop = true })`.
    let _ = env.set(
        ctx,
        "noop_tracer",
        Callback::from_fn_with(&ctx, t, |t, ctx, _, mut stack| {
            stack.replace(ctx, *t);
            Ok(CallbackReturn::Return)
        }),
    );
    super::set(ctx, kong, "tracing", t);
}

#[cfg(test)]
mod tests {
    #[test]
    fn glue_chunks_compile() {
        for g in [&super::NEW_TRACER, &super::NOOP_SPAN, &super::CALL_NEW] {
            super::glue::check_compiles(g);
        }
    }
}
