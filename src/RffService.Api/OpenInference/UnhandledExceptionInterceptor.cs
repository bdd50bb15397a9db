using Grpc.Core;
using Grpc.Core.Interceptors;
using RffService.Api.Metrics;

namespace RffService.Api.OpenInference;

/// <summary>
/// The gRPC side of the unexpected-error rule: a call that fails with anything but a status of its own is counted,
/// logged with its exception, and answered INTERNAL with a message that reveals nothing of the server.
/// </summary>
public sealed class UnhandledExceptionInterceptor(PrometheusMetrics metrics, ILogger<UnhandledExceptionInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (ex is not RpcException && !(ex is OperationCanceledException && context.CancellationToken.IsCancellationRequested))
        {
            metrics.UnhandledException("grpc");
            logger.LogError(ex, "Unhandled exception in gRPC {Method}", context.Method);
            throw new RpcException(new Status(StatusCode.Internal, "An unexpected error occurred; it has been logged."));
        }
    }
}
