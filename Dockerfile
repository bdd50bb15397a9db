# RffService container. CPU by default; `--build-arg FLAVOR=gpu` builds the CUDA flavour: ONNX Runtime's Gpu package
# (Microsoft.ML.OnnxRuntime.Gpu 1.31.0, built for CUDA 12.x and cuDNN 9) on the CUDA 12.8 / cuDNN 9 runtime base.
# The app is published for linux-x64 only (framework-dependent), so no other platform's native libraries ship.
# Models are baked into /app/models; mount a model repository there (or set Inference__ModelsPath) to override them.
# Settings are environment variables (Section__Key), e.g. -e Inference__ExecutionProvider=cpu.
ARG FLAVOR=cpu

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG FLAVOR
WORKDIR /src
# Restore in its own layer: it reruns only when a project file changes.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/OnnxRuntime.props src/
COPY src/RffService.Onnx/RffService.Onnx.csproj src/RffService.Onnx/
COPY src/RffService.Vision/RffService.Vision.csproj src/RffService.Vision/
COPY src/RffService.Inference/RffService.Inference.csproj src/RffService.Inference/
COPY src/RffService.Api/RffService.Api.csproj src/RffService.Api/
RUN ORT=$([ "$FLAVOR" = "gpu" ] && echo Gpu || echo Cpu) && \
    dotnet restore src/RffService.Api/RffService.Api.csproj -r linux-x64 -p:OnnxRuntimeFlavor=$ORT
COPY src/ src/
# The same publish command CI runs (see .ci/run).
RUN ORT=$([ "$FLAVOR" = "gpu" ] && echo Gpu || echo Cpu) && \
    dotnet publish src/RffService.Api/RffService.Api.csproj -c Release -r linux-x64 --self-contained false -o /app --no-restore -p:OnnxRuntimeFlavor=$ORT

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime-cpu

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS runtime-gpu
# The ASP.NET Core runtime from the official image, on the CUDA base.
COPY --from=mcr.microsoft.com/dotnet/aspnet:10.0 /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet && \
    apt-get update && apt-get install -y --no-install-recommends libicu74 ca-certificates curl && rm -rf /var/lib/apt/lists/*

FROM runtime-${FLAVOR} AS final
WORKDIR /app
COPY --from=build /app ./
COPY models/ /app/models/
# REST on 8080, the Open Inference Protocol's gRPC service on 8081 (HTTP/2 only). The base image's HTTP_PORTS is
# cleared so that URLS alone decides (no "Overriding HTTP_PORTS" warning).
ENV ASPNETCORE_HTTP_PORTS= \
    ASPNETCORE_URLS="http://0.0.0.0:8080;http://0.0.0.0:8081" \
    Api__GrpcPort=8081 \
    Inference__ModelsPath=/app/models \
    Inference__ExecutionProvider=auto \
    ORT_DISABLE_TELEMETRY=1 \
    DOTNET_NOLOGO=1
EXPOSE 8080 8081
USER 1654
# Kept by Docker and by podman/buildah with --format docker (the OCI image format has no health check).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["dotnet", "/app/RffService.Api.dll", "--health-probe", "/health/live"]
ENTRYPOINT ["dotnet", "/app/RffService.Api.dll"]
