# restic-manager server image (docs/operations.md):
#   docker build -t restic-manager --build-arg VERSION=$(git describe --tags --always) .
#   docker run -d -p 8443:8443 -p 8883:8883 -v rm-data:/data restic-manager \
#       serve --data /data --https :8443 --mqtts :8883 --http "" --mqtt "" \
#       --agents-dir /opt/restic-manager/agents --public-url https://backup.example.com:8443 \
#       --tls-names backup.example.com
# install/docker-compose.yml is a complete example. restic is not in the
# image: the server never runs it, the agents do.

# Build: the server and every agent the server hands out (make agents),
# statically linked (CGO_ENABLED=0; SQLite is pure Go).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/restic-manager ./cmd/restic-manager \
    && make agents VERSION=${VERSION} \
    && mkdir -p /out/agents \
    && cp dist/* /out/agents/

# Run: a slim Debian with the server, the agents and an unprivileged user
# that owns /data (so a fresh volume belongs to it too). A shell stays in the
# image for the admin commands: docker exec -it <container> restic-manager user ...
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin restic-manager \
    && install -d -o restic-manager -g restic-manager -m 0700 /data
COPY --from=build /out/restic-manager /usr/local/bin/restic-manager
COPY --from=build /out/agents /opt/restic-manager/agents
USER restic-manager
VOLUME /data
# 8443 HTTPS (dashboard, API, enrollment, agent downloads), 8883 MQTT over
# TLS (agents). Plain HTTP and MQTT are off; behind a TLS proxy, turn on
# --http :8080 and publish that port instead.
EXPOSE 8443 8883
ENTRYPOINT ["/usr/local/bin/restic-manager"]
CMD ["serve", "--data", "/data", "--https", ":8443", "--mqtts", ":8883", "--http", "", "--mqtt", "", "--agents-dir", "/opt/restic-manager/agents"]
