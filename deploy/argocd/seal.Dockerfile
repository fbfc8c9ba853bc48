# The `seal` CLI image the Argo CD init container copies from. Build from the repository root:
#   docker build -f deploy/argocd/seal.Dockerfile -t ghcr.io/sealkit/seal:0.1.0 .
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p seal && strip target/release/seal

# distroless: no shell; `seal render --install DIR` copies the binary without `cp`.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/seal /usr/local/bin/seal
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/seal"]
