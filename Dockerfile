# lunagate in an empty image: one static binary and nothing else.
#
#   docker build -t lunagate .
#   docker run -d --name lunagate -p 8000:8000 -p 127.0.0.1:8001:8001 \
#     -v lunagate-data:/data lunagate
#
# The Admin API listens on 0.0.0.0:8001 inside the container so that a
# published port can reach it; publish it on the host's loopback only
# (as above): whoever reaches it can run Lua on the gateway.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The same command CI runs (.ci/run), so CI tests what this image ships.
RUN .ci/build-static /lunagate
# The data directory, owned by the unprivileged user the image runs as.
RUN mkdir /data && chown 65532:65532 /data

FROM scratch
COPY --from=build /lunagate /lunagate
COPY --from=build --chown=65532:65532 /data /data
# No /etc/passwd in the image: a numeric user.
USER 65532:65532
ENV LUNAGATE_DATA_DIR=/data \
    LUNAGATE_ADMIN_LISTEN=0.0.0.0:8001
VOLUME ["/data"]
# Proxy (HTTP and HTTPS) and Admin API.
EXPOSE 8000 8443 8001
ENTRYPOINT ["/lunagate", "serve"]
