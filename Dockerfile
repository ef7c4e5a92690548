# The image deploy/kubernetes/importgate.yaml names (importgate:<meson project version>).
# Build from the repository root:  docker build -t importgate:0.1.0 .
# Debian 12 both stages: the build uses deploy/install-deps.sh --build (the packages the
# suite checks), the runtime stage only the shared libraries the binary needs
# (tests/integration/test_packaging.py checks this list against the binary's NEEDED
# entries). The gateway runs as uid 10001, as the manifest's securityContext says.
FROM debian:12-slim AS build
COPY deploy/install-deps.sh /src/deploy/install-deps.sh
RUN /src/deploy/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
RUN rm -rf build-image && \
    meson setup build-image --prefix=/usr --sysconfdir=/etc -Dbuildtype=release -Dtests=false && \
    ninja -C build-image && \
    DESTDIR=/out meson install -C build-image --no-rebuild

FROM debian:12-slim
# runtime libraries: libuv1 libssl3 libmariadb3 libpcre2-8-0 libcurl4 libjansson4 libyaml-0-2 libsystemd0 libhttp-parser2.9 libtomlplusplus3 libstdc++6 libgcc-s1 zlib1g libzstd1
RUN apt-get update && \
    apt-get install -y --no-install-recommends ca-certificates \
        libuv1 libssl3 libmariadb3 libpcre2-8-0 libcurl4 libjansson4 libyaml-0-2 libsystemd0 libhttp-parser2.9 libtomlplusplus3 libstdc++6 libgcc-s1 zlib1g libzstd1 && \
    rm -rf /var/lib/apt/lists/* && \
    useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin importgate && \
    install -d -o 10001 -g 10001 -m 0750 /var/log/importgate /var/lib/importgate
COPY --from=build /out/ /
USER 10001:10001
EXPOSE 4000 10090
ENTRYPOINT ["/usr/bin/importgate"]
CMD ["-c", "/etc/importgate/importgate.yaml"]
