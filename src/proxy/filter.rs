//! The response body of a route with body_filter or log functions.
//!
//! body_filter runs once per chunk as it streams through, with the chunk
//! in `ngx.arg[1]` and `ngx.arg[2] == false`, then once more at the end
//! with an empty chunk and `ngx.arg[2] == true`, as OpenResty calls
//! `body_filter_by_lua` (the last buffer). What the functions leave in
//! `ngx.arg[1]` is sent instead of the chunk (nothing when empty); setting
//! `ngx.arg[2]` ends the body there. The head went out without a
//! `Content-Length` (`functions`), so whatever length results is framed
//! by the server (chunked), never the upstream's.
//!
//! log runs when the body is dropped: once it has been sent (or the client
//! went away, a body_filter in progress finishing first), on the worker's
//! deferred queue (`context::run_deferred`), with the request's timings
//! and the bytes sent.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use hyper::body::{Body, Frame, SizeHint};

use super::body::ProxyBody;
use super::client::BodyError;
use super::context::WorkerContext;
use crate::pdk::{Phase, RequestContext};
use crate::plugins::serverless::run_phase;
use crate::plugins::PluginList;

enum State {
    /// Waiting for the next chunk of the inner body.
    Reading,
    /// body_filter runs on a chunk.
    Filtering(LocalBoxFuture<'static, Box<RequestContext>>),
    /// Nothing more to send.
    Done,
}

pub struct Filtered {
    worker: Rc<WorkerContext>,
    plugins: PluginList,
    /// The request, while no body_filter runs on it.
    req: Option<Box<RequestContext>>,
    inner: ProxyBody,
    state: State,
    /// Run body_filter on the chunks (else only count them).
    filter: bool,
    /// Queue log when dropped.
    log: bool,
    /// The inner body has ended.
    inner_done: bool,
}

impl Filtered {
    pub fn new(
        worker: Rc<WorkerContext>,
        plugins: PluginList,
        req: Box<RequestContext>,
        inner: ProxyBody,
        filter: bool,
        log: bool,
    ) -> Self {
        Filtered {
            worker,
            plugins,
            req: Some(req),
            inner,
            state: State::Reading,
            filter,
            log,
            inner_done: false,
        }
    }

    /// Starts body_filter on `chunk`.
    fn start(&mut self, chunk: Bytes, eof: bool) {
        let Some(mut req) = self.req.take() else {
            self.state = State::Done;
            return;
        };
        req.arg_chunk = chunk;
        req.arg_eof = eof;
        let worker = self.worker.clone();
        let plugins = self.plugins.clone();
        self.state = State::Filtering(Box::pin(async move {
            run_phase(&worker.lua, Phase::BodyFilter, &plugins, req).await
        }));
    }

    fn sent(&mut self, chunk: &Bytes) {
        if let Some(req) = self.req.as_mut() {
            req.times.body_bytes += chunk.len() as u64;
        }
    }
}

impl Body for Filtered {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Filtering(run) => {
                    let mut req = match run.as_mut().poll(cx) {
                        Poll::Ready(req) => req,
                        Poll::Pending => return Poll::Pending,
                    };
                    let chunk = std::mem::take(&mut req.arg_chunk);
                    let end = req.arg_eof || this.inner_done;
                    req.arg_eof = false;
                    this.req = Some(req);
                    this.state = if end { State::Done } else { State::Reading };
                    if !chunk.is_empty() {
                        this.sent(&chunk);
                        return Poll::Ready(Some(Ok(Frame::data(chunk))));
                    }
                }
                State::Reading => match Pin::new(&mut this.inner).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(chunk) if this.filter => this.start(chunk, false),
                        Ok(chunk) => {
                            this.sent(&chunk);
                            return Poll::Ready(Some(Ok(Frame::data(chunk))));
                        }
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    },
                    Poll::Ready(Some(Err(e))) => {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(None) => {
                        this.inner_done = true;
                        if this.filter {
                            this.start(Bytes::new(), true);
                        } else {
                            this.state = State::Done;
                        }
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self.state {
            State::Done => true,
            State::Reading => !self.filter && self.inner.is_end_stream(),
            State::Filtering(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.filter {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

impl Drop for Filtered {
    fn drop(&mut self) {
        if !self.log {
            return;
        }
        let done = Instant::now();
        // A body_filter still running when the body is dropped (the client
        // went away meanwhile) has the request: it runs to its end, as
        // OpenResty's filter would (a Lua filter is not cut off by a
        // client leaving), and log runs after it, as Kong's does.
        let pending = match std::mem::replace(&mut self.state, State::Done) {
            State::Filtering(run) => Some(run),
            _ => None,
        };
        let req = self.req.take();
        if pending.is_none() && req.is_none() {
            return;
        }
        let plugins = self.plugins.clone();
        self.worker.defer(Box::new(move |worker| {
            Box::pin(async move {
                let mut req = match (pending, req) {
                    (Some(run), _) => run.await,
                    (None, Some(req)) => req,
                    (None, None) => return,
                };
                req.times.done = Some(done);
                run_phase(&worker.lua, Phase::Log, &plugins, req).await;
            })
        }));
    }
}
